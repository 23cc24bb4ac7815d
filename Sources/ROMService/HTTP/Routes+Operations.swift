import Foundation
import HTTPTypes
import Hummingbird
import Intake
import Storage

/// What ops look at to know the service is working: each background job's last run on each instance, the outbox
/// (waiting, sending, failed with reasons), the inbox, and retrying failed messages once the cause is fixed.
struct OperationsStatus: Encodable {
    var generatedAt: Date
    var services: [ServiceRun]
    var outbox: OutboxHealth
    var inbox: [String: Int]

    enum CodingKeys: String, CodingKey {
        case services, outbox, inbox
        case generatedAt = "generated_at"
    }

    static func read(_ env: ServiceEnvironment) async throws -> OperationsStatus {
        let now = env.now()
        return OperationsStatus(generatedAt: now, services: try await env.store.serviceRuns(), outbox: try await env.store.outboxHealth(now: now),
                                inbox: try await env.store.inboxWaiting())
    }

    func html() -> String {
        let stamp = DateFormatter()
        stamp.locale = Locale(identifier: "en_GB")
        stamp.timeZone = TimeZone(identifier: "UTC")
        stamp.dateFormat = "d MMM yyyy HH:mm:ss"
        let runs = services.map { run in
            "<tr><td>\(HTML.escape(run.service))</td><td>\(HTML.escape(run.instance))</td><td>\(stamp.string(from: run.startedAt))</td><td>\(run.durationMilliseconds) ms</td><td>\(HTML.escape(run.outcome))</td><td>\(HTML.escape(run.detail ?? ""))</td></tr>"
        }.joined()
        let gateways = Set(outbox.counts.map(\.gateway)).sorted()
        let countRows = gateways.map { gateway in
            let cells = ["queued", "sending", "failed"].map { status in
                String(outbox.counts.first { $0.gateway == gateway && $0.status == status }?.rows ?? 0)
            }
            return """
            <tr><td>\(HTML.escape(gateway))</td><td>\(cells[0])</td><td>\(cells[1])</td><td>\(cells[2])</td>
            <td><form method="post" action="/ops/outbox/retry-failed"><input type="hidden" name="gateway" value="\(HTML.escape(gateway))">
            <button type="submit">Retry failed (last 24 h)</button></form></td></tr>
            """
        }.joined()
        let oldest = outbox.oldestDue.map { "; the oldest has waited since \(stamp.string(from: $0))" } ?? ""
        let failedRows = outbox.failed.map { message in
            """
            <tr><td>\(stamp.string(from: message.failedAt))</td><td><a href="/clinician/people/\(HTML.escape(message.personID))">\(HTML.escape(message.personID))</a></td>
            <td>\(HTML.escape(message.purpose))\(message.rows > 1 ? " (\(message.rows) prompts)" : "")</td><td>\(HTML.escape(message.channel)) via \(HTML.escape(message.gateway))</td><td>\(message.attempts)</td>
            <td>\(HTML.escape(message.reason ?? "—"))</td>
            <td>\(message.personRefused ? "<span class=\"muted\">not retried: the person refused or was erased</span>" : "<form method=\"post\" action=\"/ops/outbox/\(HTML.escape(message.id))/retry\"><button type=\"submit\">Retry</button></form>")</td></tr>
            """
        }.joined()
        let inboxRows = inbox.sorted { $0.key < $1.key }.map { "<li>\(HTML.escape($0.key)): \($0.value)</li>" }.joined()
        return """
        <h1>Service status</h1>
        <h2>Background jobs</h2>
        <p>Each scheduler tick and each sweep runs on one instance at a time; the others stand by for it (standby), and carry on if an instance stops.</p>
        <table><tr><th>Job</th><th>Instance</th><th>Last run (UTC)</th><th>Took</th><th>Outcome</th><th>Detail</th></tr>\(runs.isEmpty ? "<tr><td colspan=\"6\">No runs recorded yet.</td></tr>" : runs)</table>
        <h2>Outbox</h2>
        <p>\(outbox.due) message\(outbox.due == 1 ? "" : "s") due and waiting\(oldest).</p>
        <table><tr><th>Gateway</th><th>Queued rows</th><th>Sending rows</th><th>Failed rows</th><th></th></tr>\(countRows.isEmpty ? "<tr><td colspan=\"5\">Nothing in the outbox.</td></tr>" : countRows)</table>
        <h2>Failed messages</h2>
        <p>Reasons are codes (the provider's own text is never kept). Retry once the cause is fixed; a check-in that has closed or been answered since is not sent late, and messages to people who opted out or were erased are not retried.</p>
        <table><tr><th>Failed (UTC)</th><th>Person</th><th>Purpose</th><th>Channel</th><th>Attempts</th><th>Reason</th><th></th></tr>\(failedRows.isEmpty ? "<tr><td colspan=\"7\">None.</td></tr>" : failedRows)</table>
        <h2>Inbox</h2>
        <p><a href="/clinician/inbox">Replies waiting for a person</a>: \(inbox.values.reduce(0, +)).</p><ul>\(inboxRows)</ul>
        """
    }
}

extension Routes {
    static func operations(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/ops/status", .roles([.ops]), page: true) { _, _ in
            HTML.response(HTML.page(title: "Service status", body: try await OperationsStatus.read(env).html(), signedIn: true))
        }
        table.add(.get, "/api/v1/ops/status", .roles([.ops])) { _, _ in
            try jsonResponse(try await OperationsStatus.read(env))
        }
        table.add(.post, "/api/v1/outbox/:id/retry", .roles([.ops])) { _, context in
            try jsonResponse(["queued": try await retry(env, context)])
        }
        table.add(.post, "/ops/outbox/:id/retry", .roles([.ops]), page: true) { _, context in
            _ = try await retry(env, context)
            return Response.redirect(to: "/ops/status", type: .normal)
        }
        table.add(.post, "/api/v1/outbox/retry-failed", .roles([.ops])) { request, context in
            let body = try await RequestBody.decode(RetryInput.self, from: request, limit: 16 * 1024, emptyAsObject: true)
            var since = env.now().addingTimeInterval(-86_400)
            if let text = body.since {
                guard let parsed = ISO8601DateFormatter().date(from: text) else {
                    throw APIError(status: .unprocessableContent, code: "invalid_since", message: "`since` must be an ISO-8601 instant, e.g. 2026-11-30T09:00:00Z")
                }
                since = parsed
            }
            return try jsonResponse(["queued": try await retryAll(env, context, gateway: body.gateway, since: since)])
        }
        table.add(.post, "/ops/outbox/retry-failed", .roles([.ops]), page: true) { request, context in
            let body = try await request.body.collect(upTo: 16 * 1024)
            let gateway = FormFields.parse(String(buffer: body))["gateway"].flatMap { $0.isEmpty ? nil : $0 }
            _ = try await retryAll(env, context, gateway: gateway, since: env.now().addingTimeInterval(-86_400))
            return Response.redirect(to: "/ops/status", type: .normal)
        }
    }

    /// `POST /api/v1/outbox/retry-failed`'s optional body.
    struct RetryInput: Decodable {
        var gateway: String?
        var since: String?
    }

    private static func retry(_ env: ServiceEnvironment, _ context: ROMRequestContext) async throws -> Int {
        let id = context.parameters.get("id") ?? ""
        switch try await env.store.retryFailed(messageID: id, actor: context.actor, now: env.now()) {
        case .success(let count):
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "outbox.retry", personID: nil, detail: "\(id): \(count) outbox row\(count == 1 ? "" : "s")", requestID: context.id))
            return count
        case .failure(let refusal):
            throw APIError(status: refusal == .notFound ? .notFound : .conflict, code: refusal.rawValue, message: refusal.message)
        }
    }

    private static func retryAll(_ env: ServiceEnvironment, _ context: ROMRequestContext, gateway: String?, since: Date) async throws -> Int {
        if let gateway, env.configuration.gateways[gateway] == nil {
            throw APIError(status: .unprocessableContent, code: "unknown_gateway", message: "no gateway `\(gateway)` in gateways.yaml")
        }
        let count = try await env.store.retryAllFailed(gateway: gateway, since: since, actor: context.actor, now: env.now())
        try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "outbox.retry_failed", personID: nil,
                                             detail: "\(gateway ?? "every gateway") since \(ISO8601DateFormatter().string(from: since)): \(count) outbox row\(count == 1 ? "" : "s")", requestID: context.id))
        return count
    }
}
