import ArgumentParser
import Foundation
import Logging
import ROMService
import Storage

struct Schedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan prompts from review cadences: create, remind, expire; or show what would happen.",
        discussion: """
        Without --dry-run, runs one scheduler tick at --now (default: the current time)
        over every enrolment (with --due-only, over those whose next attention instant
        has come) and writes the results: prompts and their outbox messages (one per check-in), reminders,
        expiries, missed check-ins and non-response flags.
        With --dry-run nothing is written: the output lists what would be sent,
        reminded and expired in the next --days days, assuming nobody answers. Run it
        before turning on a new pathway.
        """
    )

    @OptionGroup var options: CommonOptions

    @Flag(help: "Write nothing; list what would happen.")
    var dryRun = false

    @Option(help: "How many days ahead to look with --dry-run.")
    var days = 7

    @Option(help: "Only this person.")
    var person: String?

    @Flag(help: "Plan only the enrolments whose next attention instant has come, as rom serve does after its first tick (default: everyone, as after a configuration change).")
    var dueOnly = false

    @Option(help: "table or json.")
    var format: String = "table"

    func run() async throws {
        guard format == "table" || format == "json" else { throw ValidationError("--format must be table or json") }
        guard days >= 0 && days <= 366 else { throw ValidationError("--days must be 0…366") }
        let configuration = try options.load()
        let now = try options.clock()()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        try await store.checkReady()
        let env = try ServiceEnvironment.command(configuration: configuration, store: store, now: { now }, logger: makeLogger(level: .warning))
        let runner = SchedulerRunner(env: env)
        if !dryRun {
            let applied = try await runner.tick(now: now, personID: person, full: !dueOnly)
            try await store.close()
            print("Created \(applied.created) prompts, rescheduled \(applied.rescheduled), reminded \(applied.reminded), expired \(applied.expired); recorded \(applied.missed) missed check-ins and \(applied.flagged) non-response flags.")
            return
        }
        let rows = try await runner.dryRun(now: now, days: days, personID: person)
        try await store.close()
        if format == "json" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        let formatter = ISO8601DateFormatter()
        let header = ["at (UTC)", "action", "person", "instrument", "kind", "review", "review_at", "send_at", "reminders", "closes_at"]
        let table = rows.map { row in
            [formatter.string(from: row.at), row.action + (row.reason.map { " (\($0))" } ?? ""), row.person, row.instrument, row.kind, row.review,
             formatter.string(from: row.reviewAt), row.sendAt.map(formatter.string) ?? "", row.reminders.map(formatter.string).joined(separator: " "),
             row.closesAt.map(formatter.string) ?? ""]
        }
        let widths = header.indices.map { column in ([header[column]] + table.map { $0[column] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        print(line(header))
        for row in table { print(line(row)) }
        print("\(rows.count) event\(rows.count == 1 ? "" : "s") in the next \(days) day\(days == 1 ? "" : "s") (nothing written).")
    }
}
