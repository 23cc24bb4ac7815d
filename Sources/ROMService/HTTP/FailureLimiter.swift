public import Foundation
import Synchronization

/// Anti-automation (R30): counts failed credential attempts — unknown or ended check-in links, refused sign-ins and
/// bearer tokens, bad webhook signatures — per source address, and refuses that address with 429 once it has made
/// `limit` failures within `window`. Other addresses are unaffected; successes are never counted.
public final class FailureLimiter: Sendable {
    public let limit: Int
    public let window: TimeInterval
    private let failures = Mutex<[String: [Date]]>([:])

    public init(limit: Int = 20, window: TimeInterval = 600) {
        self.limit = limit
        self.window = window
    }

    /// Seconds until `source` may try again, or nil when it is not blocked.
    public func retryAfter(_ source: String, now: Date) -> Int? {
        failures.withLock { table in
            guard var times = table[source] else { return nil }
            times.removeAll { now.timeIntervalSince($0) >= window }
            table[source] = times.isEmpty ? nil : times
            guard times.count >= limit, let oldest = times.first else { return nil }
            return max(1, Int((window - now.timeIntervalSince(oldest)).rounded(.up)))
        }
    }

    public func recordFailure(_ source: String, now: Date) {
        failures.withLock { table in
            var times = table[source, default: []]
            times.removeAll { now.timeIntervalSince($0) >= window }
            times.append(now)
            // Keep at most `limit` entries per source: enough to decide, bounded memory under attack.
            if times.count > limit { times.removeFirst(times.count - limit) }
            table[source] = times
            // Bound the table itself: forget the stalest sources first.
            if table.count > 100_000 {
                for key in table.filter({ $0.value.last.map { now.timeIntervalSince($0) >= window } ?? true }).keys { table[key] = nil }
            }
        }
    }
}
