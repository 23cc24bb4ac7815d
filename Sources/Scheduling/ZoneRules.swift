import Foundation
import Synchronization

/// A time zone's UTC offsets over a span of years, precomputed so that converting between UTC and
/// local wall-clock time is a binary search, not a calendar computation.
///
/// Local wall-clock time is counted in "local seconds": seconds since 1970-01-01T00:00 as read on
/// a clock in that zone. Day arithmetic (`28d` before a review) is done in local seconds so that a
/// 09:00 review stays at 09:00 across daylight-saving changes.
public struct ZoneRules: Sendable {
    public let identifier: String
    /// UTC second at which `offsets[i]` starts; `starts[0]` is `Int64.min`.
    private let starts: [Int64]
    private let offsets: [Int64]

    /// Rules for `identifier` between two years (inclusive); nil for an unknown zone.
    public init?(identifier: String, fromYear: Int = 2000, toYear: Int = 2100) {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        self.identifier = identifier
        let from = Date(timeIntervalSince1970: Double(LocalDate.dayNumber(year: fromYear, month: 1, day: 1)) * 86_400)
        let to = Date(timeIntervalSince1970: Double(LocalDate.dayNumber(year: toYear + 1, month: 1, day: 1)) * 86_400)
        var starts: [Int64] = [Int64.min]
        var offsets: [Int64] = [Int64(zone.secondsFromGMT(for: from))]
        var cursor = from
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < to {
            let offset = Int64(zone.secondsFromGMT(for: next))
            if offset != offsets.last {
                starts.append(Int64(next.timeIntervalSince1970.rounded()))
                offsets.append(offset)
            }
            cursor = next
        }
        self.starts = starts
        self.offsets = offsets
    }

    /// Rules for `identifier` over the default years, built once per process and shared (building walks a century
    /// of transitions); nil for an unknown zone.
    public static func cached(_ identifier: String) -> ZoneRules? {
        if let known = cache.withLock({ $0[identifier] }) { return known }
        let rules = ZoneRules(identifier: identifier)
        cache.withLock { $0[identifier] = .some(rules) }
        return rules
    }

    private static let cache = Mutex<[String: ZoneRules?]>([:])

    /// Offset from UTC, in seconds, in force at `utc`.
    public func offset(atUTC utc: Int64) -> Int64 {
        var low = 0
        var high = starts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= utc { low = mid } else { high = mid - 1 }
        }
        return offsets[low]
    }

    /// Local wall-clock seconds for a UTC instant.
    public func local(_ utc: Int64) -> Int64 {
        utc + offset(atUTC: utc)
    }

    /// The UTC instant for a local wall-clock time.
    ///
    /// A time that happens twice (autumn fall-back) gives the earlier instant; a time that never
    /// happens (spring-forward gap) moves forward by the gap, as clocks do: 01:30 on the day
    /// Europe/London springs forward becomes 02:30 BST.
    public func utc(fromLocal local: Int64) -> Int64 {
        let before = offset(atUTC: local - 86_400)
        let after = offset(atUTC: local + 86_400)
        // The larger offset gives the earlier instant: try it first.
        let first = max(before, after), second = min(before, after)
        if local - first + offset(atUTC: local - first) == local { return local - first }
        if local - second + offset(atUTC: local - second) == local { return local - second }
        return local - before
    }

    /// Day number (days since 1970-01-01) of the local date at `utc`.
    public func localDay(_ utc: Int64) -> Int {
        Int(floorDiv(local(utc), 86_400))
    }

    /// Minute of the local day at `utc`.
    public func minuteOfDay(_ utc: Int64) -> Int {
        Int(floorMod(local(utc), 86_400) / 60)
    }

    /// The UTC instant of `minute` past local midnight on local day `day`.
    public func instant(day: Int, minute: Int) -> Int64 {
        utc(fromLocal: Int64(day) * 86_400 + Int64(minute) * 60)
    }

    /// Moves `utc` by `span`: whole days move on the local calendar (same wall-clock time), anything else moves in UTC.
    public func shift(_ utc: Int64, by seconds: Int64) -> Int64 {
        if seconds % 86_400 == 0 {
            return self.utc(fromLocal: local(utc) + seconds)
        }
        return utc + seconds
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always)
func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    a - floorDiv(a, b) * b
}

extension LocalDate {
    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    public static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Days since 1970-01-01.
    public var dayNumber: Int { Self.dayNumber(year: year, month: month, day: day) }

    /// The date `dayNumber` days after 1970-01-01 (civil_from_days).
    public init(dayNumber: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }
}
