import Synchronization

/// A first-in, first-out lock for async code: holds one SQLite connection for one transaction at a time.
///
/// Taking a free lock does not suspend (no hop to an actor and back, as a lock per statement once cost): only a
/// caller that finds it held waits, in line, and `unlock` hands the lock straight to the first in line.
///
/// Each waiter says whether it is background work (the dispatcher's passes, scheduler ticks): the holder of a write in steps lets in
/// whoever waits after the step, but waiting background work alone does not make it commit early.
final class AsyncMutex: Sendable {
    private struct State {
        var locked = false
        var waiters: [(continuation: CheckedContinuation<Void, Never>, background: Bool)] = []
        /// Waiters that are not background work.
        var foreground = 0
    }

    private let state = Mutex(State())

    func lock(background: Bool = false) async {
        if state.withLock({ state in
            if state.locked { return false }
            state.locked = true
            return true
        }) { return }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let free = state.withLock { state in
                if state.locked {
                    state.waiters.append((waiter, background))
                    if !background { state.foreground += 1 }
                    return false
                }
                state.locked = true
                return true
            }
            if free { waiter.resume() }
        }
    }

    /// True when someone is waiting for the lock, background work included (what the tests look at).
    var contended: Bool { state.withLock { !$0.waiters.isEmpty } }

    /// True when someone other than background work is waiting for the lock (read by the holder of a write in steps,
    /// to let them in after the step).
    var contendedInForeground: Bool { state.withLock { $0.foreground > 0 } }

    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            let next = state.waiters.removeFirst()
            if !next.background { state.foreground -= 1 }
            return next.continuation
        }
        next?.resume()
    }
}
