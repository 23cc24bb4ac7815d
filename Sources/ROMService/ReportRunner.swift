import Foundation
import Review
public import Storage

/// `rom report` and `/ops/reports`: runs a report over a scope and renders it as a table, CSV or JSON.
public struct ReportRunner: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case completeness, outcomes
        case nonResponse = "non-response"
    }

    public enum Format: String, Sendable, CaseIterable {
        case table, csv, json
    }

    let env: ServiceEnvironment

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    /// The report as rows (first row the header) and as an encodable value.
    public func run(_ kind: Kind, scope: ReportScope) async throws -> (rows: [[String]], value: any Encodable & Sendable) {
        switch kind {
        case .completeness:
            let report = CompletenessReport.build(groups: try await env.store.promptGroups(scope), pairs: try await env.store.scorePairs(scope),
                                                  reviews: try await env.store.reviewCounts(scope, now: env.now()))
            var rows = [["figure", "count", "of", "percent", "drill down"]]
            func add(_ name: String, _ figure: Figure, _ drill: String) {
                rows.append([name, String(figure.count), String(figure.of), figure.percent.map { String(format: "%.1f", $0) } ?? "", drill])
            }
            rows.append(["due", String(report.due), "", "", "due"])
            add("sent", report.sent, "sent")
            add("delivered (receipt)", report.delivered, "delivered")
            add("answered", report.answered, "answered")
            add("missed", report.missed, "missed")
            add("still open", report.open, "open")
            add("answered late (after closing, inside the grace)", report.late, "late")
            for (reason, count) in report.missedReasons.sorted(by: { $0.key < $1.key }) {
                add("missed: \(reason)", Figure(count, of: report.missed.count), "missed")
            }
            add("baseline answered", report.baselineAnswered, "answered")
            for (instrument, figure) in report.byMeasure.sorted(by: { $0.key < $1.key }) { add("answered: \(instrument)", figure, "answered") }
            for (instrument, figure) in report.pairedScores.sorted(by: { $0.key < $1.key }) { add("paired scores: \(instrument)", figure, "") }
            rows.append(["reviews past their time", String(report.reviews.past), "", "", ""])
            add("reviews held", report.reviews.held, "")
            add("reviews missed", report.reviews.missed, "")
            add("reviews overdue (neither held nor missed)", report.reviews.overdue, "")
            rows.append(["reviews still ahead", String(report.reviews.ahead), "", "", ""])
            return (rows, report)
        case .outcomes:
            let report = OutcomesReport.build(pairs: try await env.store.scorePairs(scope), catalog: env.configuration.instruments)
            var rows = [["pathway", "team", "measure", "people", "reliable improvement", "no reliable change", "reliable deterioration", "recovery", "reliable recovery"]]
            for group in report.groups {
                rows.append([group.pathway, group.team, group.instrument, String(group.people), group.reliableImprovement.text, group.noReliableChange.text,
                             group.reliableDeterioration.text, group.recovery?.text ?? "n/a", group.reliableRecovery?.text ?? "n/a"])
            }
            return (rows, report)
        case .nonResponse:
            let report = NonResponseReport.build(flags: try await env.store.nonResponseFlags(scope))
            func hours(_ value: Double?) -> String { value.map { String(format: "%.1f h", $0) } ?? "—" }
            let rows = [["figure", "value"], ["flags raised", String(report.raised)], ["acknowledged (contacted)", report.acknowledged.text],
                        ["actioned (reviewed)", report.actioned.text], ["still open", report.stillOpen.text],
                        ["time to contact, median", hours(report.hoursToContactMedian)], ["time to contact, 90th centile", hours(report.hoursToContactP90)],
                        ["time to review, median", hours(report.hoursToReviewMedian)], ["time to review, 90th centile", hours(report.hoursToReviewP90)]]
            return (rows, report)
        }
    }

    public static func render(rows: [[String]], value: any Encodable, as format: Format) -> String {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
        case .csv:
            return rows.map { row in
                row.map { cell in cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell }
                    .joined(separator: ",")
            }.joined(separator: "\n") + "\n"
        case .table:
            let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
            return rows.enumerated().map { index, row in
                let line = row.enumerated().map { column, cell in cell.padding(toLength: widths[column], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                return index == 0 ? line + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") : line
            }.joined(separator: "\n") + "\n"
        }
    }
}
