import Foundation
import Intake
import HTTPTypes
import Hummingbird
import Review
import Storage

extension Routes {
    /// Review packs (HTML page, JSON/FHIR/Markdown API), interpretations, goals, and the clinician's flag list.
    static func reviewPacks(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let builder = ReviewBuilder(env: env)
        let renderer = try? ReviewRenderer(configuration: env.configuration)

        /// The person if the caller may see them (clinicians: own team only), audited as a read.
        @Sendable func visiblePerson(_ context: ROMRequestContext, action: String) async throws -> String {
            let id = context.parameters.get("id") ?? ""
            guard let record = try await env.store.person(id: id), visible(record, to: context.identity) else {
                throw APIError(status: .notFound, code: "not_found", message: "no person `\(id)` in your caseload")
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: action, personID: id, detail: nil, requestID: context.id))
            return id
        }
        @Sendable func reviewAt(_ request: Request) throws -> Date? {
            guard let text = request.uri.queryParameters["review"].map(String.init) else { return nil }
            guard let date = ISO8601DateFormatter().date(from: text) ?? ISO8601DateFormatter.dateOnly(text) else {
                throw APIError(status: .badRequest, code: "invalid_review", message: "`review` must be a date (2026-11-30) or an ISO 8601 time")
            }
            return date
        }

        table.add(.get, "/clinician/people/:id/review", .roles([.clinician, .ops]), page: true) { request, context in
            let id = try await visiblePerson(context, action: "review.view")
            guard let renderer, let pack = try await builder.pack(personID: id, reviewAt: try reviewAt(request), now: env.now()) else {
                throw APIError(status: .internalServerError, code: "no_templates", message: "the review templates are missing from config/templates")
            }
            return HTML.response(renderer.render(pack, as: .html))
        }
        table.add(.get, "/api/v1/people/:id/review", .roles([.clinician, .ops, .integration])) { request, context in
            let id = try await visiblePerson(context, action: "review.read")
            let formatName = request.uri.queryParameters["format"].map(String.init) ?? "json"
            guard let format = ReviewFormat(rawValue: formatName) else {
                throw APIError(status: .badRequest, code: "invalid_format", message: "format is one of json, fhir, md, html")
            }
            guard let renderer, let pack = try await builder.pack(personID: id, reviewAt: try reviewAt(request), now: env.now()) else {
                throw APIError(status: .internalServerError, code: "no_templates", message: "the review templates are missing from config/templates")
            }
            var headers = HTTPFields()
            headers[.contentType] = ["json": "application/json", "fhir": "application/fhir+json", "md": "text/markdown; charset=utf-8",
                                     "html": "text/html; charset=utf-8"][format.rawValue]
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: renderer.render(pack, as: format))))
        }
        // Interpretation: from the page (form) or the API (JSON). Append-only; the next pack shows it.
        table.add(.post, "/clinician/people/:id/review/notes", .roles([.clinician]), page: true) { request, context in
            let id = try await visiblePerson(context, action: "review.note.form")
            let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 32 * 1024)))
            try await recordNote(id, form["review_at"], form["matches_experience"], form["note"], context, env)
            return Response.redirect(to: "/clinician/people/\(id)/review", type: .found)
        }
        table.add(.post, "/api/v1/people/:id/review/notes", .roles([.clinician])) { request, context in
            let id = try await visiblePerson(context, action: "review.note.api")
            let body = try await RequestBody.decode(ReviewNoteInput.self, from: request, limit: 32 * 1024)
            try await recordNote(id, body.review_at, body.matches_experience, body.note, context, env)
            return try jsonResponse(["status": "recorded"], status: .created)
        }
        table.add(.get, "/api/v1/people/:id/goals", .roles([.clinician, .ops])) { _, context in
            let id = try await visiblePerson(context, action: "goals.read")
            let goals = try await env.store.goals(personID: id)
            return try jsonResponse(["goals": goals]).tagged(EntityTag.of(goals: goals))
        }
        table.add(.put, "/api/v1/people/:id/goals", .roles([.clinician, .ops])) { request, context in
            let id = try await visiblePerson(context, action: "goals.set")
            let body = try await RequestBody.decode(GoalsInput.self, from: request, limit: 32 * 1024)
            let goals = body.goals.map { $0.trimmingCharacters(in: .whitespaces) }
            guard (1...5).contains(goals.count), goals.allSatisfy({ !$0.isEmpty && $0.count <= 200 }) else {
                throw APIError(status: .unprocessableContent, code: "invalid_goals",
                               message: "send {\"goals\": [\"…\"]}: one to five goals in the person's words, each 1–200 characters")
            }
            let matches = EntityTag.ifMatch(request)
            switch try await env.store.setGoals(personID: id, goals: goals, now: env.now(), if: { matches?(EntityTag.of(goals: $0)) ?? true }) {
            case .stale(let current): throw EntityTag.preconditionFailed(current: EntityTag.of(goals: current))
            case .written(let saved): return try jsonResponse(["goals": saved]).tagged(EntityTag.of(goals: saved))
            }
        }
        table.add(.post, "/clinician/flags/:id/acknowledge", .roles([.clinician]), page: true) { request, context in
            let id = context.parameters.get("id") ?? ""
            guard let flag = try await env.store.flag(id: id), context.identity?.team == flag.team else {
                throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)` in your team")
            }
            let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 8 * 1024)))
            _ = try await env.store.advanceFlag(id: id, to: "acknowledged", by: context.actor, note: nil, now: env.now())
            // Only back to our own clinician pages.
            let next = form["next"].flatMap { $0.hasPrefix("/clinician/") ? RequestSafety.sameSitePath($0, fallback: "/clinician/flags") : nil } ?? "/clinician/flags"
            return Response.redirect(to: next + "#\(id)", type: .found)
        }
        // Actioning needs a note saying what was done; from the flags page or the review pack.
        table.add(.post, "/clinician/flags/:id/action", .roles([.clinician]), page: true) { request, context in
            let id = context.parameters.get("id") ?? ""
            guard let flag = try await env.store.flag(id: id), context.identity?.team == flag.team else {
                throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)` in your team")
            }
            let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
            let next = form["next"].flatMap { $0.hasPrefix("/clinician/") ? RequestSafety.sameSitePath($0, fallback: "/clinician/flags") : nil } ?? "/clinician/flags"
            let note = (form["note"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !note.isEmpty else {
                return HTML.response(HTML.page(title: "Flags", body: "<p class=\"error\" role=\"alert\">Not actioned: say what was done in the note.</p><p><a href=\"\(HTML.escape(next))\">Back</a></p>",
                                               signedIn: true), status: .unprocessableContent)
            }
            _ = try await env.store.advanceFlag(id: id, to: "actioned", by: context.actor, note: note, now: env.now())
            return Response.redirect(to: next + "#\(id)", type: .found)
        }
        table.add(.get, "/clinician/flags", .roles([.clinician]), page: true) { _, context in
            let team = context.identity?.team ?? "\u{0}"
            let flags = try await env.store.flags(team: team, openOnly: true)
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "flags.view", personID: nil,
                                                 detail: "\(flags.count) flags", requestID: context.id))
            let now = env.now()
            let rows = flags.map { flag in
                let age = Self.age(now.timeIntervalSince(flag.raisedAt))
                let urgent = flag.severity == "urgent"
                let acknowledge = flag.status == "open" ? "<form method=\"post\" action=\"/clinician/flags/\(HTML.escape(flag.id))/acknowledge\"><button type=\"submit\">Acknowledge</button></form>" : ""
                let action = acknowledge + """
                    <form method="post" action="/clinician/flags/\(HTML.escape(flag.id))/action"><label for="note-\(HTML.escape(flag.id))">What was done</label>
                    <textarea id="note-\(HTML.escape(flag.id))" name="note" rows="2" required></textarea><button type="submit">Action</button></form>
                    """
                let history = ["raised \(Self.age(now.timeIntervalSince(flag.raisedAt))) ago"]
                    + (flag.acknowledgedAt.map { ["acknowledged by \(flag.acknowledgedBy ?? "?") \(Self.age(now.timeIntervalSince($0))) ago"] } ?? [])
                let described = FlagDescription.describe(kind: flag.kind, evidence: flag.evidence, catalog: env.configuration.instruments)
                let evidence = described.evidence.map { "<br><span class=\"muted\">\(HTML.escape($0))</span>" }.joined()
                return "<tr id=\"\(HTML.escape(flag.id))\"\(urgent ? " class=\"urgent\"" : "")><td>\(urgent ? "<strong>URGENT</strong>" : HTML.escape(flag.severity))</td><td>\(HTML.escape(described.title))\(evidence)</td>"
                    + "<td><a href=\"/clinician/people/\(HTML.escape(flag.personID))\">\(HTML.escape(flag.personID))</a></td><td>\(age)</td><td>\(HTML.escape(flag.status))<br><span class=\"muted\">\(HTML.escape(history.joined(separator: "; ")))</span></td><td>\(action)</td></tr>"
            }.joined()
            return HTML.response(HTML.page(title: "Flags", body: """
            <style>tr.urgent{background:#fce8e6}</style>
            <h1>Open flags: team \(HTML.escape(team))</h1>
            <p>\(flags.count) open or acknowledged flag\(flags.count == 1 ? "" : "s"), urgent first, then oldest first.</p>
            <table><tr><th>Severity</th><th>Flag</th><th>Person</th><th>Age</th><th>Status</th><th></th></tr>\(rows)</table>
            """, signedIn: true))
        }
    }

    static func recordNote(_ id: String, _ reviewAt: String?, _ matches: String?, _ note: String?, _ context: ROMRequestContext, _ env: ServiceEnvironment) async throws {
        guard let matches, ["yes", "partly", "no"].contains(matches) else {
            throw APIError(status: .unprocessableContent, code: "invalid_note", message: "matches_experience is yes, partly or no")
        }
        let text = (note ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= 4_000 else {
            throw APIError(status: .unprocessableContent, code: "invalid_note", message: "write a note of 1 to 4,000 characters")
        }
        let review = reviewAt.flatMap { ISO8601DateFormatter().date(from: $0) } ?? env.now()
        try await env.store.addReviewNote(personID: id, reviewAt: review, author: context.actor, matchesExperience: matches, note: text, now: env.now())
    }

    /// "3 h", "2 d": how long a flag has waited.
    static func age(_ seconds: TimeInterval) -> String {
        if seconds < 3_600 { return "\(max(0, Int(seconds / 60))) min" }
        if seconds < 86_400 { return "\(Int(seconds / 3_600)) h" }
        return "\(Int(seconds / 86_400)) d"
    }
}

extension ISO8601DateFormatter {
    /// `2026-11-30` as midnight UTC.
    static func dateOnly(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.date(from: text)
    }
}

struct GoalsInput: Decodable {
    var goals: [String]
}

struct ReviewNoteInput: Decodable {
    var review_at: String?
    var matches_experience: String?
    var note: String?
}
