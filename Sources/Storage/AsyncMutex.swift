import Synchronization

/// A first-in, first-out lock for async code: holds one SQLite connection for one transaction at a time.
///
/// Taking a free lock does not suspend (no hop to an actor and back, as a lock per statement once cost): only a
/// caller that finds it held waits, in line, and `unlock` hands the lock straight to the first in line.
final class AsyncMutex: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func lock() async {
        if state.withLock({ state in
            if state.locked { return false }
            state.locked = true
            return true
        }) { return }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let free = state.withLock { state in
                if state.locked {
                    state.waiters.append(waiter)
                    return false
                }
                state.locked = true
                return true
            }
            if free { waiter.resume() }
        }
    }

    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
