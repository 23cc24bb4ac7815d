import ArgumentParser
import Foundation
import Logging
import ROMService
import Review
import Storage

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Completeness, outcomes and non-response reports for ops and commissioners.",
        discussion: """
        completeness   prompts for reviews in the period: due, sent, delivered, answered, missed by reason, baseline
                       answered, paired-score coverage per measure
        outcomes       people whose latest score is in the period, first score against latest: reliable improvement,
                       no reliable change, reliable deterioration, recovery and reliable recovery (of those who were
                       cases), by pathway, team and measure — every percentage with its count
        non-response   flags raised for missed check-ins, how many were contacted (acknowledged) and reviewed
                       (actioned), and how long that took
        --rows FIGURE lists the prompts behind a completeness figure (due, sent, delivered, answered, late, missed, open);
        with non-response, --rows flags lists the flags. Outcomes in JSON list the people in every class.
          rom report completeness --from 2026-06-01 --to 2026-12-01 --team north
          rom report outcomes --format csv > outcomes.csv
        """
    )

    @OptionGroup var options: CommonOptions

    @Argument(help: "completeness, outcomes or non-response.")
    var report: String

    @Option(help: "Start of the period (date, inclusive). Default: 182 days before --to.")
    var from: String?

    @Option(help: "End of the period (date, exclusive). Default: --now.")
    var to: String?

    @Option(help: "Only this pathway.")
    var pathway: String?

    @Option(help: "Only this team.")
    var team: String?

    @Option(help: "table, csv or json.")
    var format: String = "table"

    @Option(help: "List the rows behind a figure instead: completeness due|sent|delivered|answered|late|missed|open; non-response flags.")
    var rows: String?

    func run() async throws {
        guard let kind = ReportRunner.Kind(rawValue: report) else { throw ValidationError("the report is completeness, outcomes or non-response") }
        guard let format = ReportRunner.Format(rawValue: format) else { throw ValidationError("--format must be table, csv or json") }
        let configuration = try options.load()
        let now = try options.clock()()
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        func date(_ text: String?, _ name: String) throws -> Date? {
            guard let text else { return nil }
            guard let value = day.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { throw ValidationError("--\(name) must be a date like 2026-06-01") }
            return value
        }
        let end = try date(to, "to") ?? now
        let start = try date(from, "from") ?? end.addingTimeInterval(-182 * 86_400)
        guard start < end else { throw ValidationError("--from must be before --to") }
        let scope = ReportScope(from: start, to: end, pathway: pathway, team: team)
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        try await store.checkReady()
        let env = try ServiceEnvironment.command(configuration: configuration, store: store, now: { now }, logger: makeLogger(level: .warning))
        if kind == .nonResponse, rows != nil {
            // The flags behind the non-response figures.
            let flags = try await store.nonResponseFlags(scope)
            let stamp = ISO8601DateFormatter()
            let table = [["flag", "person", "team", "pathway", "raised", "acknowledged", "actioned", "status"]] + flags.map {
                [$0.flagID, $0.personID, $0.team, $0.pathway, stamp.string(from: $0.raisedAt), $0.acknowledgedAt.map { stamp.string(from: $0) } ?? "",
                 $0.actionedAt.map { stamp.string(from: $0) } ?? "", $0.status]
            }
            print(ReportRunner.render(rows: table, value: table, as: format), terminator: "")
        } else if let figure = rows {
            guard kind == .completeness, ["due", "sent", "delivered", "answered", "late", "missed", "open"].contains(figure) else {
                throw ValidationError("--rows works with completeness (due, sent, delivered, answered, late, missed, open) and non-response (flags)")
            }
            let details = try await store.promptDetails(scope, figure: figure, limit: 100_000)
            let table = [["person", "measure", "kind", "review", "status", "reason", "message"]] + details.map {
                [$0.personID, $0.instrument, $0.kind, day.string(from: $0.reviewAt), $0.status, $0.reason ?? "", $0.message ?? "not sent"]
            }
            print(ReportRunner.render(rows: table, value: details, as: format), terminator: "")
        } else {
            let (table, value) = try await ReportRunner(env: env).run(kind, scope: scope)
            print(ReportRunner.render(rows: table, value: value, as: format), terminator: "")
        }
        try await store.close()
    }
}
