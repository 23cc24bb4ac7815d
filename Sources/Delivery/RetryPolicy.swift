public import Foundation

/// Exponential backoff with jitter and a cap, then dead-lettering (R7).
public struct RetryPolicy: Sendable, Equatable {
    /// Delay after the first failure.
    public var base: TimeInterval
    public var multiplier: Double
    /// No delay is longer than this.
    public var cap: TimeInterval
    /// ±fraction of the delay, so many failures do not retry in step.
    public var jitter: Double
    /// After this many attempts the message fails with the last reason.
    public var maxAttempts: Int

    public init(base: TimeInterval = 30, multiplier: Double = 4, cap: TimeInterval = 3_600, jitter: Double = 0.2, maxAttempts: Int = 8) {
        self.base = base
        self.multiplier = multiplier
        self.cap = cap
        self.jitter = jitter
        self.maxAttempts = maxAttempts
    }

    /// For urgent staff alerts: the same backoff capped at five minutes, with three times the attempts (about two
    /// hours in all before dead-lettering to the escalation address), so an alert goes within minutes of a provider's
    /// return instead of at a backoff of up to an hour.
    public var urgent: RetryPolicy {
        var policy = self
        policy.cap = min(cap, 300)
        policy.maxAttempts = maxAttempts * 3
        return policy
    }

    /// The delay before attempt `attempt + 1`, where `unit` in 0..<1 picks the jitter (random in service, fixed in tests).
    public func delay(afterAttempt attempt: Int, unit: Double) -> TimeInterval {
        var delay = base
        for _ in 1..<max(attempt, 1) { delay *= multiplier }
        delay = min(delay, cap)
        let spread = delay * jitter * (unit * 2 - 1)
        return min(max(delay + spread, 0), cap)
    }

    /// The wait before retrying: the provider's Retry-After when it gave one, else the backoff.
    public func retryDelay(afterAttempt attempt: Int, retryAfter: TimeInterval?, unit: Double) -> TimeInterval {
        if let retryAfter { return min(max(retryAfter, 0), cap) }
        return delay(afterAttempt: attempt, unit: unit)
    }
}

/// Parses `Retry-After`: seconds, or an HTTP date.
public func parseRetryAfter(_ value: String?, now: Date) -> TimeInterval? {
    guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
    if let seconds = Double(value) { return max(seconds, 0) }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    return formatter.date(from: value).map { max($0.timeIntervalSince(now), 0) }
}
