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

    @Test("A full queue remembers the keys of what it refuses, up to its overflow capacity, and the workers resume each once as soon as they have room, in turn with new work")
    func overflow() async throws {
        let work = BackgroundWork(workers: 1, capacity: 2, overflowCapacity: 5)
        let gate = Mutex(false)
        let ran = Mutex<[String]>([])
        func item(_ name: String) -> BackgroundWork.Item {
            {
                while !gate.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
                ran.withLock { $0.append(name) }
            }
        }
        let resume: @Sendable (String) async -> Void = { key in ran.withLock { $0.append("resumed \(key)") } }
        var admissions: [BackgroundWork.Admission] = []
        admissions.append(work.start(item("r0"), key: "r0", resume: resume))
        // The one worker takes r0 and waits at the gate; then two wait in the queue, five are remembered, two refused.
        let started = ContinuousClock.now
        while work.waiting > 0 && ContinuousClock.now - started < .seconds(10) { try await Task.sleep(for: .milliseconds(1)) }
        for index in 1...9 { admissions.append(work.start(item("r\(index)"), key: "r\(index)", resume: resume)) }
        #expect(admissions == [.queued, .queued, .queued] + Array(repeating: .remembered, count: 5) + [.refused, .refused])
        #expect(work.waiting == 2 && work.remembered == 5)
        gate.withLock { $0 = true }
        await work.drain()
        let order = ran.withLock { $0 }
        #expect(Set(order) == ["r0", "r1", "r2", "resumed r3", "resumed r4", "resumed r5", "resumed r6", "resumed r7"], "each once; r8 and r9 are the sweeper's")
        #expect(order.count == 8)
        // Remembered keys go in turn with queued items, not after all of them.
        let firstResumed = try #require(order.firstIndex { $0.hasPrefix("resumed") })
        #expect(firstResumed <= 2, "\(order)")
        #expect(work.remembered == 0 && work.waiting == 0)
        // Past the overflow, a catch-up pass given with the refused items runs once — however many were refused — and
        // only after everything queued and remembered.
        let catching = BackgroundWork(workers: 1, capacity: 1, overflowCapacity: 2)
        let caught = Mutex<[String]>([])
        let open = Mutex(false)
        let catchUp: BackgroundWork.Item = { caught.withLock { $0.append("catch-up") } }
        func held(_ name: String) -> BackgroundWork.Item {
            { while !open.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }; caught.withLock { $0.append(name) } }
        }
        let remember: @Sendable (String) async -> Void = { key in caught.withLock { $0.append("resumed \(key)") } }
        var catchingAdmissions = [catching.start(held("c0"), key: "c0", resume: remember, catchUp: catchUp)]
        let waitStart = ContinuousClock.now
        while catching.waiting > 0 && ContinuousClock.now - waitStart < .seconds(10) { try await Task.sleep(for: .milliseconds(1)) }
        for index in 1...6 { catchingAdmissions.append(catching.start(held("c\(index)"), key: "c\(index)", resume: remember, catchUp: catchUp)) }
        #expect(catchingAdmissions == [.queued, .queued, .remembered, .remembered, .refused, .refused, .refused])
        open.withLock { $0 = true }
        await catching.drain()
        let caughtOrder = caught.withLock { $0 }
        #expect(caughtOrder.filter { $0 == "catch-up" }.count == 1, "\(caughtOrder)")
        #expect(caughtOrder.last == "catch-up", "after the queued and remembered ones: \(caughtOrder)")
        #expect(Set(caughtOrder) == ["c0", "c1", "resumed c2", "resumed c3", "catch-up"])
        // Without a way to resume, a full queue only refuses (nothing is remembered that nobody could work).
        let plain = BackgroundWork(workers: 1, capacity: 1)
        let hold = Mutex(false)
        plain.start { while !hold.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) } }
        while plain.waiting > 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(plain.start({}, key: "a", resume: nil) == .queued)
        #expect(plain.start({}, key: "b", resume: nil) == .refused)
        hold.withLock { $0 = true }
        await plain.drain()
    }
}
