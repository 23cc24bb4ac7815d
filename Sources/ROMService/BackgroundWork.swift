import Synchronization

/// Work started by a request that finishes after the response (processing a stored reply), through a bounded queue:
/// at most `workers` items run at once and at most `capacity` wait, so a burst of webhooks can neither exhaust memory
/// nor starve the requests behind it.
///
/// When the queue is full an item is not kept, but its key is (up to `overflowCapacity` keys, a few bytes each): the
/// reply is already stored, and the workers take remembered keys in turn with queued items — every other item while
/// both wait, all of them once the queue is empty — through the `resume` given, which processes the stored reply
/// again (held only while keys are remembered). So a
/// burst's refused replies are processed as soon as the workers have room, not at the next sweep. Beyond
/// `overflowCapacity` keys nothing more is remembered, but a `catchUp` given with the refused item (one pass over
/// what is stored, like the sweeper's) runs once the remembered keys are worked through — so a flood larger than the
/// overflow waits for the workers, not for the next sweep (up to its interval, 10 minutes shipped). Drained before
/// the store closes and by tests; anything cut short by a crash is picked up again from the stored row.
public final class BackgroundWork: Sendable {
    public typealias Item = @Sendable () async -> Void

    private struct State {
        var pending: [Item] = []
        var head = 0
        var overflow: [String] = []
        var overflowHead = 0
        /// How remembered keys are worked; held only while any is remembered.
        var resume: (@Sendable (String) async -> Void)?
        /// A pass that finds what was refused, run when nothing is queued or remembered; one however many were refused.
        var catchUp: Item?
        var turn = 0
        var running = 0
        var nextID = 0
        var tasks: [Int: Task<Void, Never>] = [:]

        var waiting: Int { pending.count - head }
        var remembered: Int { overflow.count - overflowHead }

        /// The next queued item, or — every other time, or when nothing is queued — a remembered key.
        mutating func next() -> Next? {
            turn += 1
            if remembered > 0 && (waiting == 0 || turn % 2 == 0), let resume {
                let key = overflow[overflowHead]
                overflowHead += 1
                if overflowHead > 1_024 && overflowHead * 2 > overflow.count {
                    overflow.removeFirst(overflowHead)
                    overflowHead = 0
                }
                if remembered == 0 { self.resume = nil }
                return .resume(key, resume)
            }
            guard head < pending.count else {
                // Everything queued and remembered is done: now the pass that finds what was refused meanwhile.
                defer { catchUp = nil }
                return catchUp.map(Next.item)
            }
            let item = pending[head]
            head += 1
            if head > 1_024 && head * 2 > pending.count {
                pending.removeFirst(head)
                head = 0
            }
            return .item(item)
        }
    }

    private enum Next {
        case item(Item)
        case resume(String, @Sendable (String) async -> Void)
    }

    private let state = Mutex(State())
    public let workers: Int
    public let capacity: Int
    public let overflowCapacity: Int

    public init(workers: Int = 4, capacity: Int = 1_000, overflowCapacity: Int = 100_000) {
        self.workers = max(1, workers)
        self.capacity = max(1, capacity)
        self.overflowCapacity = max(0, overflowCapacity)
    }

    /// Items waiting for a worker.
    public var waiting: Int { state.withLock { $0.waiting } }
    /// Keys of refused items waiting for a worker.
    public var remembered: Int { state.withLock { $0.remembered } }

    /// What `start` did with an item.
    public enum Admission: Sendable, Equatable {
        case queued
        /// Not queued; its key will be resumed when a worker has room.
        case remembered
        /// Neither queued nor remembered: the `catchUp` pass given finds it once the queue and the remembered keys are
        /// done (without one, the sweeper).
        case refused
    }

    /// Queues `body`; false (and nothing queued) when `capacity` items are already waiting.
    @discardableResult
    public func start(_ body: @escaping Item) -> Bool {
        start(body, key: nil, resume: nil) == .queued
    }

    /// Queues `body`, or when the queue is full remembers `key`, to be worked by `resume` (which does the same work
    /// from what is stored) when a worker has room, if fewer than `overflowCapacity` keys are remembered; past that,
    /// arms `catchUp` (once, whatever the number refused) to run when nothing is queued or remembered.
    public func start(_ body: @escaping Item, key: String?, resume: (@Sendable (String) async -> Void)?, catchUp: Item? = nil) -> Admission {
        state.withLock { state in
            let admission: Admission
            if state.waiting < capacity {
                state.pending.append(body)
                admission = .queued
            } else if let key, let resume, state.remembered < overflowCapacity {
                state.overflow.append(key)
                state.resume = resume
                admission = .remembered
            } else if let catchUp {
                state.catchUp = catchUp
                admission = .refused
            } else {
                return .refused
            }
            spawnWorkerIfIdle(&state)
            return admission
        }
    }

    private func spawnWorkerIfIdle(_ state: inout State) {
        guard state.running < workers else { return }
        state.running += 1
        let id = state.nextID
        state.nextID += 1
        state.tasks[id] = Task { await self.work(id) }
    }

    /// One worker: runs queued items and remembered keys until none is left, then ends.
    private func work(_ id: Int) async {
        while true {
            let next: Next? = state.withLock { state in
                if let next = state.next() { return next }
                state.running -= 1
                state.tasks.removeValue(forKey: id)
                return nil
            }
            switch next {
            case nil: return
            case .item(let item)?: await item()
            case .resume(let key, let resume)?: await resume(key)
            }
        }
    }

    /// Waits until nothing queued or remembered here is waiting or running (including work queued while waiting).
    public func drain() async {
        while let task = state.withLock({ $0.tasks.values.first }) {
            await task.value
        }
    }
}
