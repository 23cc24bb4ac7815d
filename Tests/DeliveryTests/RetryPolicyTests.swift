import Delivery
import Testing

/// Backoff for messages (R7), and the shorter one for urgent staff alerts.
@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("Without jitter the delays grow 30 s × 4 to the one-hour cap; an urgent alert's stop at five minutes and it has three times the attempts",
          arguments: [(1, 30.0, 30.0), (2, 120, 120), (3, 480, 300), (4, 1_920, 300), (5, 3_600, 300), (8, 3_600, 300)])
    func delays(attempt: Int, message: Double, alert: Double) {
        let policy = RetryPolicy()
        // unit 0.5 puts the jitter at its middle: no spread.
        #expect(policy.delay(afterAttempt: attempt, unit: 0.5) == message)
        #expect(policy.urgent.delay(afterAttempt: attempt, unit: 0.5) == alert)
    }

    @Test("The urgent policy keeps the base, multiplier and jitter; only the cap and the attempts change")
    func urgentShape() {
        let policy = RetryPolicy(base: 10, multiplier: 2, cap: 120, jitter: 0.1, maxAttempts: 5)
        let urgent = policy.urgent
        #expect(urgent.base == 10 && urgent.multiplier == 2 && urgent.jitter == 0.1)
        #expect(urgent.cap == 120, "a cap already under five minutes stays")
        #expect(urgent.maxAttempts == 15)
        #expect(RetryPolicy().urgent.retryDelay(afterAttempt: 1, retryAfter: 900, unit: 0.5) == 300, "a provider's Retry-After is held to the cap too")
    }
}
