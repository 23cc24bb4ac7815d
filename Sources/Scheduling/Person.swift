/// A person enrolled on a pathway, as imported from a CSV or posted to the API.
public struct Person: Sendable, Equatable, Codable {
    /// The service's own identifier (never an NHS number in logs).
    public var id: String
    public var givenName: String
    /// E.164, e.g. `+447700900123`.
    public var phone: String?
    public var email: String?
    /// IANA zone, e.g. `Europe/London`; nil means the pathway's.
    public var timezone: String?
    public var pathway: String
    public var startDate: LocalDate
    public var clinician: String?
    public var team: String
    /// Routine or step-up at enrolment.
    public var mode: Mode
    /// A first booked review (UTC seconds), from the CSV's optional `next_review` column.
    public var nextReviewAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id, phone, email, timezone, pathway, clinician, team, mode
        case givenName = "given_name", startDate = "start_date", nextReviewAt = "next_review_at"
    }

    public init(id: String, givenName: String, phone: String?, email: String?, timezone: String?, pathway: String,
                startDate: LocalDate, clinician: String?, team: String, mode: Mode = .routine, nextReviewAt: Int64? = nil) {
        self.mode = mode
        self.nextReviewAt = nextReviewAt
        self.id = id
        self.givenName = givenName
        self.phone = phone
        self.email = email
        self.timezone = timezone
        self.pathway = pathway
        self.startDate = startDate
        self.clinician = clinician
        self.team = team
    }
}

/// A calendar date with no time zone, `YYYY-MM-DD`.
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`, checking the day exists (no 31 April, 29 February only in leap years).
    public static func parse(_ text: String) -> LocalDate? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return LocalDate(year: year, month: month, day: day)
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = LocalDate.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "`\(text)` is not a date; write YYYY-MM-DD")
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Field rules for contact details.
public enum ContactRules {
    /// E.164: `+`, a country code not starting with 0, 7 to 15 digits in all.
    public static func isE164(_ text: String) -> Bool {
        guard text.first == "+" else { return false }
        let digits = text.dropFirst()
        return (7...15).contains(digits.count) && digits.first != "0" && digits.allSatisfy(\.isASCIIDigitCharacter)
    }

    /// A deliberately plain check: one `@`, a non-empty local part, a dotted domain, no spaces.
    public static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              !text.contains(" "), text.count <= 254 else { return false }
        // No control characters (a CR/LF would inject SMTP headers) and no angle brackets (they would end the address).
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "<" || $0 == ">" || $0 == "\\" || $0 == "\"" }) { return false }
        return true
    }
}
