import Foundation
import HTTPTypes
import Hummingbird
import Instruments
import Intake
import Storage

/// The team inbox: every reply that could not be used on its own (free text, unknown codes, unreadable answers,
/// replies from unknown numbers), oldest first, until a person matches it to a prompt, records it as an opt-out or
/// marks it handled with a note. Clinicians see their team's; ops see all, including unknown senders.
extension Routes {
    static func inbox(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let pipeline = ReplyPipeline(env: env)

        table.add(.get, "/api/v1/inbox", .roles([.ops, .clinician])) { request, context in
            let all = try statusFilter(request) == "all"
            let paging = try PageRequest(request, keyLength: 2)
            let after = try paging.after.map { key in (receivedAtMillis: try PageRequest.number(key[0]), id: key[1]) }
            let page = paging.page(try await env.store.inboxItems(team: inboxTeam(context), includeHandled: all, after: after, limit: paging.limit + 1)) {
                [String($0.receivedAt.millis), $0.id]
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "inbox.list", personID: nil,
                                                 detail: "\(page.items.count) items", requestID: context.id))
            return try jsonResponse(ListPage(key: "items", items: page.items.map {
                InboxJSON($0, text: pipeline.text(of: $0.rawBody, contentType: $0.contentType, source: $0.channel, gateway: $0.gateway))
            }, nextCursor: page.nextCursor))
        }
        for action in InboxAction.allCases {
            table.add(.post, "/api/v1/inbox/:id/\(action.rawValue)", .roles([.ops, .clinician])) { request, context in
                let body = try await RequestBody.decode(InboxActionInput.self, from: request, limit: 16 * 1024, emptyAsObject: true)
                let fields = ["prompt": body.prompt, "instrument": body.instrument, "answers": body.answers, "note": body.note].compactMapValues { $0 }
                let item = try await perform(action, id: context.parameters.get("id") ?? "", fields: fields, context: context, env: env, pipeline: pipeline)
                return try jsonResponse(InboxJSON(item, text: pipeline.text(of: item.rawBody, contentType: item.contentType, source: item.channel, gateway: item.gateway)))
            }
            table.add(.post, "/clinician/inbox/:id/\(action.rawValue)", .roles([.ops, .clinician]), page: true) { request, context in
                let fields = FormFields.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
                let id = context.parameters.get("id") ?? ""
                do {
                    _ = try await perform(action, id: id, fields: fields, context: context, env: env, pipeline: pipeline)
                    return Response.redirect(to: "/clinician/inbox?done=\(action.rawValue)", type: .found)
                } catch let error as APIError {
                    let page = try await inboxPage(env, pipeline, context, message: error.message)
                    return HTML.response(page, status: error.status)
                }
            }
        }
        table.add(.get, "/clinician/inbox", .roles([.ops, .clinician]), page: true) { request, context in
            let done = request.uri.queryParameters["done"].flatMap { InboxAction(rawValue: String($0)) }
            return HTML.response(try await inboxPage(env, pipeline, context, message: nil, done: done))
        }
    }

    /// An inbox action's body (the same fields as the inbox page's forms).
    struct InboxActionInput: Decodable {
        var prompt: String?
        var instrument: String?
        var answers: String?
        var note: String?
    }

    enum InboxAction: String, CaseIterable, Sendable {
        case match, optOut = "opt-out", handled
    }

    /// Clinicians: their team; ops: every team (nil).
    static func inboxTeam(_ context: ROMRequestContext) -> String? {
        context.identity?.role == .clinician ? (context.identity?.team ?? "\u{0}") : nil
    }

    /// One inbox action, audited; errors name what to fix.
    static func perform(_ action: InboxAction, id: String, fields: [String: String], context: ROMRequestContext, env: ServiceEnvironment,
                        pipeline: ReplyPipeline) async throws -> InboxItem {
        guard let item = try await env.store.inboxItem(id: id), visible(item, to: context) else {
            throw APIError(status: .notFound, code: "not_found", message: "no inbox item `\(id)` for your team")
        }
        guard item.status == "quarantined" else {
            throw APIError(status: .conflict, code: "already_handled", message: "this reply was dealt with already (\(item.reason ?? "handled"))")
        }
        let actor = context.actor
        let note = fields["note"]?.trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        let now = env.now()
        switch action {
        case .match:
            switch try await pipeline.matchInboxItem(item, promptID: fields["prompt"]?.nilIfEmpty, instrument: fields["instrument"]?.nilIfEmpty,
                                                     answers: fields["answers"], actor: actor, note: note, now: now) {
            case .success: break
            case .failure(let problem):
                throw APIError(status: problem.code == "already_handled" ? .conflict : .unprocessableContent, code: problem.code, message: problem.description,
                               item: problem.item)
            }
        case .optOut:
            guard item.personID != nil, item.channel == "sms" || item.channel == "email" else {
                throw APIError(status: .unprocessableContent, code: "not_a_channel", message: "only an SMS or email reply from a known person can opt them out")
            }
            guard try await env.store.resolveInboxItem(id: id, personID: item.personID, resolution: .optOut(channel: item.channel), by: actor, note: note, now: now) else {
                throw APIError(status: .conflict, code: "already_handled", message: "someone has dealt with this reply already")
            }
        case .handled:
            guard let note else {
                throw APIError(status: .unprocessableContent, code: "note_required", message: "say what was done, e.g. {\"note\": \"Rang Ana; she is safe and has a plan\"}")
            }
            guard try await env.store.resolveInboxItem(id: id, personID: item.personID, resolution: .handled, by: actor, note: note, now: now) else {
                throw APIError(status: .conflict, code: "already_handled", message: "someone has dealt with this reply already")
            }
        }
        try await env.store.audit(AuditEvent(at: now, actor: actor, action: "inbox.\(action.rawValue)", personID: item.personID, detail: id, requestID: context.id))
        return try await env.store.inboxItem(id: id) ?? item
    }

    static func visible(_ item: InboxItem, to context: ROMRequestContext) -> Bool {
        guard let identity = context.identity else { return false }
        return identity.role != .clinician || (item.team != nil && identity.team == item.team)
    }

    static func inboxPage(_ env: ServiceEnvironment, _ pipeline: ReplyPipeline, _ context: ROMRequestContext, message: String?,
                          done: InboxAction? = nil) async throws -> String {
        let items = try await env.store.inboxItems(team: inboxTeam(context))
        try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "inbox.view", personID: nil,
                                             detail: "\(items.count) items", requestID: context.id))
        let now = env.now()
        var body = "<h1>Inbox\(context.identity?.role == .clinician ? ": team \(HTML.escape(context.identity?.team ?? ""))" : "")</h1>"
        body += "<p>\(items.count) repl\(items.count == 1 ? "y" : "ies") that rom could not use on its own, oldest first. Read each one: match it to a check-in, record an opt-out, or say what you did.</p>"
        if let message { body += "<div class=\"error\" role=\"alert\"><p>\(HTML.escape(message))</p></div>" }
        if let done { body += "<div role=\"status\"><p>Done: \(done == .match ? "the answers were scored" : done == .optOut ? "the opt-out was recorded" : "marked handled").</p></div>" }
        for item in items {
            let text = pipeline.text(of: item.rawBody, contentType: item.contentType, source: item.channel, gateway: item.gateway) ?? "(the gateway no longer takes replies)"
            let id = HTML.escape(item.id)
            let person = item.personID.map { "<a href=\"/clinician/people/\(HTML.escape($0))/review\">\(HTML.escape($0))</a>" } ?? "unknown sender"
            body += "<section class=\"inbox\" id=\"\(id)\" aria-labelledby=\"h-\(id)\"><h2 id=\"h-\(id)\">\(HTML.escape(item.channel.uppercased())) from \(person), \(age(now.timeIntervalSince(item.receivedAt))) ago</h2>"
            if item.urgentFlag {
                body += "<p class=\"urgent\"><strong>URGENT:</strong> this reply raised an urgent flag and the team was alerted. <a href=\"/clinician/flags\">Open flags</a></p>"
            }
            body += "<p><strong>Why it is here:</strong> \(HTML.escape(describe(item.reason)))</p><blockquote>\(HTML.escape(text))</blockquote>"
            if let personID = item.personID {
                let prompts = try await env.store.recentPrompts(personID: personID, closedAfter: now.addingTimeInterval(-ReplyPipeline.lookback))
                let options = prompts.reversed().map { prompt in
                    let title = env.configuration.instruments.definition(prompt.instrument)?.title ?? prompt.instrument
                    return "<option value=\"\(HTML.escape(prompt.id))\">\(HTML.escape(title))\(prompt.replyCode.map { " (\($0))" } ?? ""), \(HTML.escape(prompt.status)), closes \(HTML.escape(dateText(prompt.closesAt)))</option>"
                }.joined()
                body += """
                <form method="post" action="/clinician/inbox/\(id)/match"><label for="p-\(id)">Check-in it answers</label>
                <select id="p-\(id)" name="prompt"><option value="">Choose a check-in</option>\(options)</select>
                <label for="a-\(id)">Answers in item order (leave blank to read them from the reply)</label><input id="a-\(id)" name="answers" inputmode="numeric">
                <button type="submit">Score these answers</button></form>
                """
                if item.channel == "sms" || item.channel == "email" {
                    body += "<form method=\"post\" action=\"/clinician/inbox/\(id)/opt-out\"><button type=\"submit\" class=\"secondary\">Record as an opt-out of \(HTML.escape(item.channel))</button></form>"
                }
            }
            body += """
            <form method="post" action="/clinician/inbox/\(id)/handled"><label for="n-\(id)">What you did</label><textarea id="n-\(id)" name="note" rows="2" required></textarea>
            <button type="submit" class="secondary">Mark handled</button></form></section>
            """
        }
        let style = "<style>section.inbox{border-top:4px solid #005eb8;margin-top:24px;padding-top:8px}p.urgent{background:#fce8e6;padding:8px}blockquote{background:#f0f4f5;padding:12px;margin:8px 0;white-space:pre-wrap}label{display:block;margin-top:8px}button.secondary{background:#fff;color:#005eb8;border:2px solid #005eb8}</style>"
        return HTML.page(title: "Inbox", body: style + body, signedIn: true)
    }

    /// Reasons in words a clinician reads.
    static func describe(_ reason: String?) -> String {
        guard let reason else { return "not processed yet" }
        switch reason {
        case "free_text_opt_out": return "it reads like a wish to stop messages, but is not the STOP keyword"
        case "no_open_prompt": return "answers arrived when no check-in was open"
        case "unknown_number": return "the number is not one of our people's"
        case "unknown_reply_address": return "the reply address names nobody we know"
        case "sender_not_authenticated": return "the email's sender could not be verified (no SPF or DKIM pass)"
        case "help_requested": return "the person asked for help by email"
        default:
            if reason.hasPrefix("unreadable: ") { return "it could not be read as answers (" + reason.dropFirst(12) + ")" }
            if reason.hasPrefix("ambiguous") { return "several check-ins were open and the reply did not say which it answers" }
            if reason.hasPrefix("unknown code") { return "it names a code (\(reason.dropFirst(13))) that is not one of the person's" }
            return reason
        }
    }

    static func dateText(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.dateFormat = "d MMM HH:mm"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date) + " UTC"
    }
}

/// An inbox item as JSON.
struct InboxJSON: Encodable {
    var id: String
    var channel: String
    var receivedAt: Date
    var person: String?
    var team: String?
    var reason: String?
    var text: String?
    var status: String
    var handledBy: String?
    var handledNote: String?
    var handledAt: Date?
    var urgentFlag: Bool

    init(_ item: InboxItem, text: String?) {
        id = item.id
        channel = item.channel
        receivedAt = item.receivedAt
        person = item.personID
        team = item.team
        reason = item.reason
        self.text = text
        status = item.status
        handledBy = item.handledBy
        handledNote = item.handledNote
        handledAt = item.handledAt
        urgentFlag = item.urgentFlag
    }

    enum CodingKeys: String, CodingKey {
        case id, channel, receivedAt = "received_at", person, team, reason, text, status
        case handledBy = "handled_by", handledNote = "handled_note", handledAt = "handled_at", urgentFlag = "urgent_flag"
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
