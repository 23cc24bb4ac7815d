public import Scheduling
import Synchronization

/// Checks people rows (from CSV or the API) and reports every bad field with row and column.
public struct PersonRowValidator: Sendable {
    public static let columns = ["id", "given_name", "phone", "email", "timezone", "pathway", "start_date", "clinician", "team"]
    /// Columns a file may add: a first booked review (date, or ISO-8601 instant) and the starting mode.
    public static let optionalColumns = ["next_review", "mode"]

    /// One thing wrong with one row.
    public struct Problem: Sendable, Equatable, Codable, CustomStringConvertible {
        /// Data row number (1 = the first row after the header); nil for the header.
        public var row: Int?
        /// Line in the file.
        public var line: Int?
        public var column: String
        public var reason: String

        public init(row: Int?, line: Int?, column: String, reason: String) {
            self.row = row
            self.line = line
            self.column = column
            self.reason = reason
        }

        public var description: String {
            let place = row.map { "row \($0)" + (line.map { " (line \($0))" } ?? "") } ?? "header"
            return "\(place), column \(column): \(reason)"
        }
    }

    public let pathways: Set<String>
    public let isTimeZone: @Sendable (String) -> Bool
    /// Pathway id → its default time zone, for turning a `next_review` date into an instant.
    public let pathwayZones: [String: String]
    /// Parses an ISO-8601 instant (UTC seconds).
    public let parseInstant: @Sendable (String) -> Int64?

    public init(pathways: Set<String>, isTimeZone: @escaping @Sendable (String) -> Bool, pathwayZones: [String: String] = [:],
                parseInstant: @escaping @Sendable (String) -> Int64? = { _ in nil }) {
        self.pathways = pathways
        self.isTimeZone = isTimeZone
        self.pathwayZones = pathwayZones
        self.parseInstant = parseInstant
    }

    /// Validates one row given as column → value; returns the person or the problems.
    public func validate(_ values: [String: String], row: Int?, line: Int?) -> Result<Person, ProblemList> {
        var problems: [Problem] = []
        func value(_ column: String) -> String {
            (values[column] ?? "").trimmingSpaces()
        }
        func problem(_ column: String, _ reason: String) {
            problems.append(Problem(row: row, line: line, column: column, reason: reason))
        }
        let id = value("id")
        if id.isEmpty {
            problem("id", "is empty; every person needs the service's own identifier")
        } else if id.count > 64 || !id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            problem("id", "`\(id)` may only hold letters, digits, - _ and . (at most 64)")
        }
        let givenName = value("given_name")
        if givenName.isEmpty { problem("given_name", "is empty; it is used to greet the person in messages") }
        else if givenName.count > 40 { problem("given_name", "is longer than 40 characters; messages must fit one SMS") }
        let phone = value("phone")
        if !phone.isEmpty && !ContactRules.isE164(phone) {
            problem("phone", "`\(phone)` is not in E.164 form; write it with the country code, e.g. +447700900123")
        }
        let email = value("email")
        if !email.isEmpty && !ContactRules.isEmail(email) {
            problem("email", "`\(email)` is not an email address")
        }
        if phone.isEmpty && email.isEmpty {
            problem("phone", "both phone and email are empty; give at least one way to reach the person")
        }
        let timezone = value("timezone")
        if !timezone.isEmpty && !isTimeZone(timezone) {
            problem("timezone", "`\(timezone)` is not a time zone; use an IANA name such as Europe/London, or leave it empty for the pathway's")
        }
        let pathway = value("pathway")
        if pathway.isEmpty {
            problem("pathway", "is empty; name one of: \(pathways.sorted().joined(separator: ", "))")
        } else if !pathways.contains(pathway) {
            problem("pathway", "`\(pathway)` is not a pathway; use one of: \(pathways.sorted().joined(separator: ", "))")
        }
        let startText = value("start_date")
        let startDate = LocalDate.parse(startText)
        if startDate == nil {
            problem("start_date", startText.isEmpty ? "is empty; write the enrolment date as YYYY-MM-DD"
                                                   : "`\(startText)` is not a date; write YYYY-MM-DD, e.g. 2026-11-02")
        }
        let team = value("team")
        if team.isEmpty { problem("team", "is empty; clinicians see only their own team's people") }
        let clinician = value("clinician")
        let modeText = value("mode")
        let mode = modeText.isEmpty ? Mode.routine : Mode(rawValue: modeText)
        if mode == nil { problem("mode", "`\(modeText)` is not a mode; write routine or step_up, or leave it empty") }
        let reviewText = value("next_review")
        var nextReviewAt: Int64?
        if !reviewText.isEmpty {
            if let instant = parseInstant(reviewText) {
                nextReviewAt = instant
            } else if let date = LocalDate.parse(reviewText) {
                let zoneName = timezone.isEmpty ? (pathwayZones[pathway] ?? "Europe/London") : timezone
                nextReviewAt = zone(zoneName)?.instant(day: date.dayNumber, minute: 9 * 60)
            } else {
                problem("next_review", "`\(reviewText)` is not a date or instant; write YYYY-MM-DD (09:00 local) or 2026-12-10T14:00:00Z")
            }
            if let at = nextReviewAt, let startDate, at < Int64(startDate.dayNumber) * 86_400 {
                problem("next_review", "is before start_date")
            }
        }
        guard problems.isEmpty, let startDate, let mode else { return .failure(ProblemList(problems: problems)) }
        return .success(Person(id: id, givenName: givenName, phone: phone.isEmpty ? nil : phone, email: email.isEmpty ? nil : email,
                               timezone: timezone.isEmpty ? nil : timezone, pathway: pathway, startDate: startDate,
                               clinician: clinician.isEmpty ? nil : clinician, team: team, mode: mode, nextReviewAt: nextReviewAt))
    }

    /// Validates a whole CSV table: header, each row, and ids repeated within the file.
    ///
    /// `progress` is called with (rows done, rows in all) every `progressEvery` rows and at the end.
    public func validate(_ table: CSVTable, progressEvery: Int = 10_000,
                         progress: ((Int, Int) -> Void)? = nil) -> (people: [Person], problems: [Problem]) {
        var problems: [Problem] = []
        let missing = Self.columns.filter { !table.header.contains($0) }
        for column in missing {
            problems.append(Problem(row: nil, line: 1, column: column, reason: "the header has no `\(column)` column; the header must be \(Self.columns.joined(separator: ","))"))
        }
        for column in table.header where !Self.columns.contains(column) && !Self.optionalColumns.contains(column) {
            problems.append(Problem(row: nil, line: 1, column: column,
                                    reason: "unknown column; the header must be \(Self.columns.joined(separator: ",")), optionally with \(Self.optionalColumns.joined(separator: ", "))"))
        }
        guard problems.isEmpty else { return ([], problems) }
        var people: [Person] = []
        people.reserveCapacity(table.rows.count)
        var firstRowForID: [String: Int] = [:]
        for (index, row) in table.rows.enumerated() {
            let number = index + 1
            if number % progressEvery == 0 { progress?(number, table.rows.count) }
            guard row.fields.count == table.header.count else {
                problems.append(Problem(row: number, line: row.line, column: "*",
                                        reason: "has \(row.fields.count) fields but the header has \(table.header.count); check for a missing or extra comma"))
                continue
            }
            var values: [String: String] = [:]
            for (column, field) in zip(table.header, row.fields) { values[column] = field }
            switch validate(values, row: number, line: row.line) {
            case .success(let person):
                if let earlier = firstRowForID[person.id] {
                    problems.append(Problem(row: number, line: row.line, column: "id", reason: "`\(person.id)` is also on row \(earlier); each person appears once"))
                } else {
                    firstRowForID[person.id] = number
                    people.append(person)
                }
            case .failure(let list):
                problems += list.problems
            }
        }
        progress?(table.rows.count, table.rows.count)
        return (people, problems)
    }
}

/// Zone rules built once per zone name (building them reads the zone's whole transition table).
private let zoneCache = ZoneCache()

private final class ZoneCache: Sendable {
    private let zones = Mutex<[String: ZoneRules]>([:])

    func rules(_ name: String) -> ZoneRules? {
        zones.withLock { zones in
            if let cached = zones[name] { return cached }
            let rules = ZoneRules(identifier: name)
            zones[name] = rules
            return rules
        }
    }
}

func zone(_ name: String) -> ZoneRules? { zoneCache.rules(name) }

/// Problems as an error value.
public struct ProblemList: Error, Sendable, Equatable {
    public var problems: [PersonRowValidator.Problem]
}
