import Foundation
import Review
import HTTPTypes
import Hummingbird
import Storage

extension Routes {
    /// `/ops/reports`: the three reports with their filters, CSV and JSON downloads, and the rows behind every figure.
    static func reports(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let runner = ReportRunner(env: env)

        @Sendable func scope(_ request: Request) throws -> (ReportScope, [String: String]) {
            let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { $1 })
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            let end = try query["to"].flatMap { $0.isEmpty ? nil : $0 }.map { text in
                guard let date = day.date(from: text) else { throw APIError(status: .badRequest, code: "invalid_date", message: "`to` must be a date like 2026-12-01") }
                return date
            } ?? env.now()
            let start = try query["from"].flatMap { $0.isEmpty ? nil : $0 }.map { text in
                guard let date = day.date(from: text) else { throw APIError(status: .badRequest, code: "invalid_date", message: "`from` must be a date like 2026-06-01") }
                return date
            } ?? end.addingTimeInterval(-182 * 86_400)
            let blank = { (text: String?) in text.flatMap { $0.isEmpty ? nil : $0 } }
            return (ReportScope(from: start, to: end, pathway: blank(query["pathway"]), team: blank(query["team"])), query)
        }
        @Sendable func queryString(_ scope: ReportScope, _ extra: [String: String]) -> String {
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            var pairs = ["from": day.string(from: scope.from), "to": day.string(from: scope.to)]
            if let pathway = scope.pathway { pairs["pathway"] = pathway }
            if let team = scope.team { pairs["team"] = team }
            pairs.merge(extra) { $1 }
            return pairs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        }

        table.add(.get, "/ops/reports", .roles([.ops]), page: true) { request, context in
            let (scope, query) = try scope(request)
            let kind = ReportRunner.Kind(rawValue: query["report"] ?? "completeness") ?? .completeness
            let (rows, value) = try await runner.run(kind, scope: scope)
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "report.view", personID: nil,
                                                 detail: kind.rawValue, requestID: context.id))
            if let format = query["format"].flatMap(ReportRunner.Format.init(rawValue:)), format != .table {
                var headers = HTTPFields()
                headers[.contentType] = format == .csv ? "text/csv; charset=utf-8" : "application/json"
                headers[.contentDisposition] = "attachment; filename=\"\(kind.rawValue).\(format.rawValue)\""
                headers[.cacheControl] = "no-store"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: ReportRunner.render(rows: rows, value: value, as: format))))
            }
            var html = "<table><tr>" + (rows.first ?? []).map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr>"
            for row in rows.dropFirst() {
                html += "<tr>"
                for (index, cell) in row.enumerated() {
                    if kind == .completeness && index == 4 {
                        html += cell.isEmpty ? "<td></td>" : "<td><a href=\"/ops/reports/rows?\(HTML.escape(queryString(scope, ["figure": cell])))\">rows</a></td>"
                    } else if kind == .outcomes && (4...8).contains(index), let outcomes = value as? OutcomesReport {
                        let group = outcomes.groups[rows.firstIndex(of: row)! - 1]
                        let classes = ["reliable_improvement", "no_reliable_change", "reliable_deterioration", "recovered", "reliable_recovery"]
                        let people = group.members[classes[index - 4]] ?? []
                        html += "<td>\(HTML.escape(cell))" + (people.isEmpty ? "" : " <details><summary>people</summary>"
                            + people.map { "<a href=\"/clinician/people/\(HTML.escape($0))/review\">\(HTML.escape($0))</a>" }.joined(separator: ", ") + "</details>") + "</td>"
                    } else {
                        html += "<td>\(HTML.escape(cell))</td>"
                    }
                }
                html += "</tr>"
            }
            html += "</table>"
            // Non-response: the flags behind the figures, each with its person's review pack.
            if kind == .nonResponse {
                let flags = try await env.store.nonResponseFlags(scope)
                let stamp = ISO8601DateFormatter()
                html += "<h3>The \(flags.count) flag\(flags.count == 1 ? "" : "s") behind these figures</h3><table><tr><th>Person</th><th>Raised</th><th>Acknowledged</th><th>Actioned</th><th>Status</th></tr>"
                html += flags.map { flag in
                    "<tr><td><a href=\"/clinician/people/\(HTML.escape(flag.personID))/review\">\(HTML.escape(flag.personID))</a></td><td>\(stamp.string(from: flag.raisedAt))</td>"
                        + "<td>\(flag.acknowledgedAt.map { stamp.string(from: $0) } ?? "—")</td><td>\(flag.actionedAt.map { stamp.string(from: $0) } ?? "—")</td><td>\(HTML.escape(flag.status))</td></tr>"
                }.joined() + "</table>"
            }
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            let options = ReportRunner.Kind.allCases.map { "<option value=\"\($0.rawValue)\"\($0 == kind ? " selected" : "")>\($0.rawValue)</option>" }.joined()
            return HTML.response(HTML.page(title: "Reports", body: """
            <h1>Reports</h1>
            <form method="get" action="/ops/reports">
            <label for="report">Report</label><select id="report" name="report">\(options)</select>
            <label for="from">From (inclusive)</label><input id="from" name="from" type="date" value="\(day.string(from: scope.from))">
            <label for="to">To (exclusive)</label><input id="to" name="to" type="date" value="\(day.string(from: scope.to))">
            <label for="pathway">Pathway</label><input id="pathway" name="pathway" value="\(HTML.escape(scope.pathway ?? ""))">
            <label for="team">Team</label><input id="team" name="team" value="\(HTML.escape(scope.team ?? ""))">
            <p><button type="submit">Show</button></p></form>
            <h2>\(HTML.escape(kind.rawValue))</h2>
            <p><a href="/ops/reports?\(HTML.escape(queryString(scope, ["report": kind.rawValue, "format": "csv"])))">CSV</a> ·
            <a href="/ops/reports?\(HTML.escape(queryString(scope, ["report": kind.rawValue, "format": "json"])))">JSON</a></p>
            \(html)
            """, signedIn: true))
        }
        table.add(.get, "/ops/reports/rows", .roles([.ops]), page: true) { request, context in
            let (scope, query) = try scope(request)
            let figure = query["figure"] ?? "due"
            guard ["due", "sent", "delivered", "answered", "late", "missed", "open"].contains(figure) else {
                throw APIError(status: .badRequest, code: "invalid_figure", message: "figure is one of due, sent, delivered, answered, late, missed, open")
            }
            let details = try await env.store.promptDetails(scope, figure: figure, limit: 5_000)
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "report.rows", personID: nil,
                                                 detail: figure, requestID: context.id))
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            let rows = details.map {
                "<tr><td><a href=\"/clinician/people/\(HTML.escape($0.personID))/review\">\(HTML.escape($0.personID))</a></td><td>\(HTML.escape($0.instrument))</td><td>\(HTML.escape($0.kind))</td><td>\(day.string(from: $0.reviewAt))</td><td>\(HTML.escape($0.status))</td><td>\(HTML.escape($0.reason ?? ""))</td><td>\(HTML.escape($0.message ?? "not sent"))</td></tr>"
            }.joined()
            return HTML.response(HTML.page(title: "Report rows", body: """
            <h1>Prompts behind “\(HTML.escape(figure))”</h1><p>\(details.count) prompt\(details.count == 1 ? "" : "s")\(details.count == 5_000 ? " (first 5,000; use rom report --rows for all)" : "").</p>
            <p><a href="/ops/reports?\(HTML.escape(queryString(scope, [:])))">Back to the report</a></p>
            <table><tr><th>Person</th><th>Measure</th><th>Kind</th><th>Review</th><th>Status</th><th>Reason</th><th>Message</th></tr>\(rows)</table>
            """, signedIn: true))
        }
    }
}
