import Synchronization

/// Work started by a request that finishes after the response (processing a stored reply). Drained before the store
/// closes and by tests that need it done; anything cut short by a crash is picked up again from the stored row.
public final class BackgroundWork: Sendable {
    private let state = Mutex<(next: Int, tasks: [Int: Task<Void, Never>])>((0, [:]))

    public init() {}

    /// Starts `body` now; it removes itself when it ends.
    public func start(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            let id = state.next
            state.next += 1
            state.tasks[id] = Task {
                await body()
                self.state.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    /// Waits until nothing started here is running (including work started while waiting).
    public func drain() async {
        while let task = state.withLock({ $0.tasks.values.first }) {
            await task.value
        }
    }
}
