import Synchronization

/// Work started by a request that finishes after the response (processing a stored reply), through a bounded queue:
/// at most `workers` items run at once and at most `capacity` wait. When the queue is full the item is not taken —
/// its reply is already stored, and the sweeper processes stored replies a minute old — so a burst of webhooks can
/// neither exhaust memory nor starve the requests behind it. Drained before the store closes and by tests; anything
/// cut short by a crash is picked up again from the stored row.
public final class BackgroundWork: Sendable {
    public typealias Item = @Sendable () async -> Void

    private struct State {
        var pending: [Item] = []
        var head = 0
        var running = 0
        var nextID = 0
        var tasks: [Int: Task<Void, Never>] = [:]

        var waiting: Int { pending.count - head }

        mutating func pop() -> Item? {
            guard head < pending.count else { return nil }
            let item = pending[head]
            head += 1
            if head > 1_024 && head * 2 > pending.count {
                pending.removeFirst(head)
                head = 0
            }
            return item
        }
    }

    private let state = Mutex(State())
    public let workers: Int
    public let capacity: Int

    public init(workers: Int = 4, capacity: Int = 1_000) {
        self.workers = max(1, workers)
        self.capacity = max(1, capacity)
    }

    /// Items waiting for a worker.
    public var waiting: Int { state.withLock { $0.waiting } }

    /// Queues `body`; false (and nothing queued) when `capacity` items are already waiting.
    @discardableResult
    public func start(_ body: @escaping Item) -> Bool {
        state.withLock { state in
            guard state.waiting < capacity else { return false }
            state.pending.append(body)
            guard state.running < workers else { return true }
            state.running += 1
            let id = state.nextID
            state.nextID += 1
            state.tasks[id] = Task { await self.work(id) }
            return true
        }
    }

    /// One worker: runs queued items until none is left, then ends.
    private func work(_ id: Int) async {
        while true {
            let item: Item? = state.withLock { state in
                if let item = state.pop() { return item }
                state.running -= 1
                state.tasks.removeValue(forKey: id)
                return nil
            }
            guard let item else { return }
            await item()
        }
    }

    /// Waits until nothing queued here is waiting or running (including work queued while waiting).
    public func drain() async {
        while let task = state.withLock({ $0.tasks.values.first }) {
            await task.value
        }
    }
}
