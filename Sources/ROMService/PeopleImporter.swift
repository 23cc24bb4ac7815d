import Foundation
public import Intake
import Scheduling
import Storage

/// Imports people from a CSV file or API rows: every bad row reported, the good ones written in one transaction.
public struct PeopleImporter: Sendable {
    let env: ServiceEnvironment

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    /// What an import did.
    public struct Outcome: Sendable {
        public var imported: Int
        public var problems: [PersonRowValidator.Problem]
    }

    var validator: PersonRowValidator {
        PersonRowValidator(pathways: Set(env.configuration.pathways.keys), isTimeZone: { TimeZone(identifier: $0) != nil },
                           pathwayZones: env.configuration.pathways.mapValues(\.timezone),
                           parseInstant: { text in ISO8601DateFormatter().date(from: text).map { Int64($0.timeIntervalSince1970) } })
    }

    /// Validates the whole file first; writes nothing when any row is bad unless `partial` is set.
    ///
    /// With `partial`, the valid rows are written (in one transaction) and the bad ones reported.
    public func importCSV(_ text: String, partial: Bool, progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> Outcome {
        let table: CSVTable
        do {
            table = try CSVTable.parse(text)
        } catch {
            return Outcome(imported: 0, problems: [PersonRowValidator.Problem(row: nil, line: error.line, column: "*", reason: error.message)])
        }
        let (people, problems) = validator.validate(table, progress: progress)
        if !problems.isEmpty && !partial { return Outcome(imported: 0, problems: problems) }
        if !people.isEmpty {
            try await env.store.insertPeople(people, now: env.now())
            try await env.store.audit(AuditEvent(at: env.now(), actor: "cli", action: "people.import", personID: nil,
                                                 detail: "\(people.count) people imported", requestID: nil))
        }
        return Outcome(imported: people.count, problems: problems)
    }
}
