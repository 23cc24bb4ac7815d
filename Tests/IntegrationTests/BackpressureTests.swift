import Delivery
import Foundation
import ROMService
import ROMTesting
import Storage
import Testing

/// R39: the dispatcher keeps to a gateway's configured send rate and to the provider's 429s.
@Suite("Send rate and backpressure", .serialized)
struct BackpressureTests {
    /// The most requests in any window of `seconds` of `times` (seconds, sorted).
    static func busiestSecond(_ times: [Double], seconds: Double = 1) -> Int {
        var most = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= seconds { start += 1 }
            most = max(most, end - start + 1)
        }
        return most
    }

    @Test("A provider that takes 50 sends a second (429 with Retry-After beyond that) and a gateway configured to 50/s: 300 check-ins are never sent ahead of 1.05 × 50 a second, and every one is delivered once")
    func keepsToTheRate() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, rateLimit: 50)
        let people = (0..<300).map { String(format: "p%03d,Ana,+447700%06d,,,community,2026-11-02,,north", $0, $0) }
        try await harness.seed(people.joined(separator: "\n"))
        try receiver.setMode("rate:50")
        var now = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        let wallStart = Date().timeIntervalSince1970
        let clock = ContinuousClock()
        let started = clock.now
        var delivered = 0
        // The worker's clock moves on with the wall clock, so a 429's Retry-After comes due.
        for _ in 0..<60 where delivered < 300 {
            harness.clock.set(now)
            delivered += try await harness.worker().runOnce().accepted
            now = now.addingTimeInterval(2)
        }
        let elapsed = clock.now - started
        let requests = receiver.requests()
        let accepted = requests.filter { $0.mode == "ok" }
        let refused = requests.filter { $0.mode.hasPrefix("429") }.count
        #expect(delivered == 300, "every check-in delivered")
        #expect(Set(accepted.compactMap { $0.headers["webhook-id"] }).count == 300 && accepted.count == 300, "each once")
        let times = requests.map(\.at).sorted()
        // The sender never gets ahead of 50 a second since it started: by any moment, no more requests have arrived
        // than 1.05 × 50 a second allows (one more for the first). A loaded machine can only delay sends — a stalled
        // process may then send a few together, which crowds one second but never puts it ahead — so this holds
        // however busy the machine is, while a sender faster than its limit fails it.
        let ahead = times.enumerated().first { index, at in Double(index + 1) > (at - wallStart) * 50 * 1.05 + 1 }
        #expect(ahead == nil, "request \((ahead?.offset ?? 0) + 1) arrived \((ahead?.element ?? 0) - wallStart) s after the start: ahead of 50 a second")
        let busiest = Self.busiestSecond(times)
        let busiestTwo = Self.busiestSecond(times, seconds: 2)
        #expect(elapsed >= .seconds(5), "300 at 50 a second take at least 5 s: \(elapsed)")
        print("R39: 300 messages at rate_limit 50/s: busiest second \(busiest) requests, busiest two seconds \(busiestTwo), \(refused) answered 429, drained in \(elapsed)")
    }

    @Test("The busiest-second count counts what falls within one second of each request", arguments: [
        ([0.0, 0.1, 0.2, 1.3], 3), ([0.0, 0.99, 1.0, 1.5], 3), ([], 0), ([5.0], 1),
    ])
    func busiest(times: [Double], expected: Int) {
        #expect(Self.busiestSecond(times) == expected)
    }
}
