import Foundation
import ROMService
import Synchronization
import Testing

/// The bounded queue behind reply processing after a webhook is answered.
@Suite("Background work queue")
struct BackgroundWorkTests {
    /// Counts items running now, the most ever running at once, and those finished.
    final class Gauge: Sendable {
        let state = Mutex<(running: Int, peak: Int, done: Int)>((0, 0, 0))

        func enter() { state.withLock { $0.running += 1; $0.peak = max($0.peak, $0.running) } }
        func leave() { state.withLock { $0.running -= 1; $0.done += 1 } }
        var snapshot: (running: Int, peak: Int, done: Int) { state.withLock { $0 } }
    }

    @Test("At most `workers` items run at once and at most `capacity` wait; a full queue refuses instead of growing, and every accepted item runs")
    func bounded() async throws {
        let work = BackgroundWork(workers: 3, capacity: 10)
        let gauge = Gauge()
        let gate = Mutex(false)
        func item() -> BackgroundWork.Item {
            {
                gauge.enter()
                while !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
                gauge.leave()
            }
        }
        var accepted = 0
        var refused = 0
        for _ in 0..<50 {
            if work.start(item()) { accepted += 1 } else { refused += 1 }
            // Let the workers pick up what they can before the next (however slowly a busy machine schedules them).
            let started = ContinuousClock.now
            while gauge.snapshot.running < min(accepted, 3) && ContinuousClock.now - started < .seconds(10) {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        #expect(accepted == 13, "3 running and 10 waiting")
        #expect(refused == 37)
        #expect(work.waiting == 10)
        #expect(gauge.snapshot.running == 3)
        gate.withLock { $0 = true }
        await work.drain()
        #expect(gauge.snapshot.done == 13 && gauge.snapshot.peak == 3)
        #expect(work.waiting == 0)
        // Empty again: new work is taken.
        #expect(work.start(item()))
        await work.drain()
        #expect(gauge.snapshot.done == 14)
    }
}
