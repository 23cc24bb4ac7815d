/// A length of time written in config as `36h`, `5d` or `2w`.
public struct TimeSpan: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int64

    public init(seconds: Int64) {
        self.seconds = seconds
    }

    public static func minutes(_ value: Int64) -> TimeSpan { TimeSpan(seconds: value * 60) }
    public static func hours(_ value: Int64) -> TimeSpan { TimeSpan(seconds: value * 3_600) }
    public static func days(_ value: Int64) -> TimeSpan { TimeSpan(seconds: value * 86_400) }
    public static func weeks(_ value: Int64) -> TimeSpan { TimeSpan(seconds: value * 604_800) }

    /// Units accepted after the number.
    public static let units: [(suffix: Character, seconds: Int64)] = [("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400), ("w", 604_800)]

    /// Parses `<whole number><unit>` with unit s, m, h, d or w; nil for anything else.
    public static func parse(_ text: String) -> TimeSpan? {
        guard let unit = text.last, let multiplier = units.first(where: { $0.suffix == unit })?.seconds else { return nil }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigitCharacter), let value = Int64(digits) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : TimeSpan(seconds: product)
    }

    /// Spelled with the largest unit that divides it exactly, e.g. `2w`, `36h`.
    public var description: String {
        for unit in Self.units.reversed() where seconds != 0 && seconds % unit.seconds == 0 {
            return "\(seconds / unit.seconds)\(unit.suffix)"
        }
        return "\(seconds)s"
    }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.seconds < rhs.seconds }
}

extension Character {
    var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}
