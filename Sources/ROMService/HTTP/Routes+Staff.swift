import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Instruments
import Intake
import Scheduling
import Storage

extension Routes {
    // MARK: - People API

    static func people(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let importer = PeopleImporter(env: env)
        table.add(.post, "/api/v1/people", .roles([.ops, .integration])) { request, context in
            try await idempotent(request, context, env) { raw in
                // Field by field, as `rom people import` checks a row: every problem at once, by field.
                let object = try RequestBody.decode([String: JSONValue].self, from: Data(raw))
                var values: [String: String] = [:]
                var problems: [String: [String]] = [:]
                for (key, value) in object {
                    guard PersonRowValidator.columns.contains(key) || PersonRowValidator.optionalColumns.contains(key) else {
                        problems[key, default: []].append("unknown field; allowed: \((PersonRowValidator.columns + PersonRowValidator.optionalColumns).joined(separator: ", "))")
                        continue
                    }
                    switch value {
                    case .string(let text): values[key] = text
                    case .null: break
                    default: problems[key, default: []].append("must be a string")
                    }
                }
                let validated = importer.validator.validate(values, row: nil, line: nil)
                if case .failure(let list) = validated {
                    for problem in list.problems { problems[problem.column, default: []].append(problem.reason) }
                }
                guard problems.isEmpty, case .success(let person) = validated else {
                    throw APIError(status: .unprocessableContent, code: "invalid_person", message: "the person was not saved; fix the fields in errors",
                                   details: problems)
                }
                do {
                    try await env.store.insertPeople([person], now: env.now())
                } catch let error as StoreError {
                    if case .unavailable = error { throw error }
                    throw APIError(status: .conflict, code: "duplicate", message: error.description)
                }
                try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "person.create",
                                                     personID: person.id, detail: nil, requestID: context.id))
                return try Answer.json(person, status: .created)
            }
        }
        table.add(.get, "/api/v1/people", .roles([.ops, .clinician, .integration])) { request, context in
            let team = context.identity?.role == .clinician ? (context.identity?.team ?? "\u{0}") : nil
            let paging = try PageRequest(request, keyLength: 1)
            let page = paging.page(try await env.store.people(team: team, after: paging.after?[0], limit: paging.limit + 1)) { [$0.person.id] }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "people.list",
                                                 personID: nil, detail: "\(page.items.count) people", requestID: context.id))
            return try jsonResponse(ListPage(key: "people", items: page.items.map(\.person), nextCursor: page.nextCursor))
        }
        table.add(.get, "/api/v1/people/:id", .roles([.ops, .clinician, .integration])) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let record = try await env.store.person(id: id), visible(record, to: context.identity) else {
                throw APIError(status: .notFound, code: "not_found", message: "no person `\(id)` in your caseload")
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "person.read",
                                                 personID: id, detail: nil, requestID: context.id))
            let overview = try await PersonOverview.read(record, env: env)
            return try jsonResponse(PersonJSON(overview: overview))
        }
        // A request to erase contact details (UK GDPR art. 17 within the records code): addresses go, the care record stays.
        table.add(.post, "/api/v1/people/:id/erase-contact", .roles([.ops])) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let report = try await SubjectAccess(env: env).eraseContact(personID: id, actor: context.actor, requestID: context.id) else {
                throw APIError(status: .notFound, code: "not_found", message: "no person `\(id)`")
            }
            struct Erased: Encodable {
                var person_id: String
                var erased: ErasureReport
            }
            return try jsonResponse(Erased(person_id: id, erased: report))
        }
        // A subject access request: the person's whole record in one JSON document.
        table.add(.get, "/api/v1/people/:id/export", .roles([.ops])) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let data = try await SubjectAccess(env: env).export(personID: id, actor: context.actor, requestID: context.id) else {
                throw APIError(status: .notFound, code: "not_found", message: "no person `\(id)`")
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "no-store"
            headers[.contentDisposition] = "attachment; filename=\"rom-export-\(id.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }).json\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        // The person's page: next review, each channel and whether we may use it, open flags, and the packs by review.
        table.add(.get, "/clinician/people/:id", .roles([.clinician, .ops]), page: true) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let record = try await env.store.person(id: id), visible(record, to: context.identity) else {
                throw APIError(status: .notFound, code: "not_found", message: "no person `\(id)` in your caseload")
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "person.view", personID: id, detail: nil, requestID: context.id))
            let overview = try await PersonOverview.read(record, env: env)
            return HTML.response(HTML.page(title: record.person.givenName, body: overview.html(env: env), signedIn: true))
        }
    }

    /// Clinicians see only their own team; ops and integrations see everyone.
    static func visible(_ record: PersonRecord, to identity: Caller?) -> Bool {
        guard let identity else { return false }
        return identity.role != .clinician || identity.team == record.person.team
    }

    // MARK: - Ops pages

    static func ops(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/ops", .roles([.ops]), page: true) { _, _ in
            let count = try await env.store.countPeople()
            let pathways = env.configuration.pathways.values.sorted { $0.id < $1.id }.map { pathway in
                "<tr><td>\(HTML.escape(pathway.id))</td><td>\(pathway.cadence.routine) / \(pathway.cadence.stepUp)</td><td>\(HTML.escape(pathway.measures.joined(separator: ", ")))</td><td>\(pathway.sendWindow)</td></tr>"
            }.joined()
            return HTML.response(HTML.page(title: "Operations", body: """
            <h1>Operations</h1><p>\(count) people enrolled.</p>
            <ul><li><a href="/ops/status">Service status</a> (background jobs, outbox, failed messages, inbox)</li><li><a href="/ops/sandbox">Sandbox outbox</a></li><li><a href="/ops/reports">Reports</a></li><li><a href="/ops/users">Staff accounts</a></li></ul>
            <h2>Pathways</h2><table><tr><th>Pathway</th><th>Cadence (routine / step-up)</th><th>Measures</th><th>Send window</th></tr>\(pathways)</table>
            """, signedIn: true))
        }
        table.add(.get, "/ops/sandbox", .roles([.ops]), page: true) { _, _ in
            let messages = try await env.store.sandboxMessages(limit: 200)
            // Live check-in links are credentials for a person's answers: shown masked, never as links staff could follow.
            let rows = messages.map { message in
                let masked = message.link.map(maskedLink)
                var body = message.body
                if let link = message.link, let masked { body = body.replacingOccurrences(of: link, with: masked) }
                return "<tr><td>\(ISO8601DateFormatter().string(from: message.createdAt))</td><td>\(HTML.escape(message.gateway))</td><td>\(HTML.escape(message.recipient))</td><td>\(HTML.escape(body))</td><td>\(HTML.escape(masked ?? ""))</td></tr>"
            }.joined()
            return HTML.response(HTML.page(title: "Sandbox outbox", body: """
            <h1>Sandbox outbox</h1>
            <p>Messages sent through a <code>kind: sandbox</code> gateway stay here instead of reaching a phone or inbox.</p>
            <form method="post" action="/ops/sandbox/test"><label for="person">Send a test check-in message to person id</label>
            <input type="text" id="person" name="person_id" required><button type="submit">Send test</button></form>
            <h2>\(messages.count) message\(messages.count == 1 ? "" : "s")</h2>
            <table><tr><th>Sent (UTC)</th><th>Gateway</th><th>To</th><th>Message</th><th>Link</th></tr>\(rows)</table>
            """, signedIn: true))
        }
        table.add(.post, "/ops/sandbox/test", .roles([.ops]), page: true) { request, context in
            let body = try await request.body.collect(upTo: 16 * 1024)
            let personID = FormFields.parse(String(buffer: body))["person_id"] ?? ""
            guard let record = try await env.store.person(id: personID),
                  let pathway = env.configuration.pathways[record.person.pathway] else {
                return HTML.response(HTML.page(title: "Sandbox outbox", body: "<p class=\"error\">No person `\(HTML.escape(personID))`.</p><p><a href=\"/ops/sandbox\">Back</a></p>", signedIn: true), status: .notFound)
            }
            let person = record.person
            let route = pathway.channels.lazy.compactMap { channel -> (Channel, String, String)? in
                let address = channel == .sms ? person.phone : person.email
                guard let address, let gateway = pathway.gateways[channel] else { return nil }
                return (channel, address, gateway)
            }.first
            guard let (channel, address, gatewayName) = route, let gateway = env.gateways[gatewayName],
                  case .sandbox = env.configuration.gateways[gatewayName]?.kind else {
                return HTML.response(HTML.page(title: "Sandbox outbox", body: "<p class=\"error\">No usable channel for this person through a sandbox gateway. Test sends go only through <code>kind: sandbox</code> gateways: never to a real provider, past opt-outs, the daily cap or the send window.</p>", signedIn: true), status: .unprocessableContent)
            }
            let link = "\(env.configuration.settings.publicURL)/c/test-\(newID())"
            let message = env.composer.compose(personID: person.id, givenName: person.givenName, channel: channel, recipient: address,
                                               link: link, unsubscribeLink: "\(env.configuration.settings.publicURL)/unsubscribe/test",
                                               idempotencyKey: "test-\(newID())")
            let outcome = await gateway.send(message, now: env.now())
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "sandbox.test_send",
                                                 personID: person.id, detail: "\(outcome)", requestID: context.id))
            return Response.redirect(to: "/ops/sandbox", type: .found)
        }
    }

    /// `https://…/c/93bu…` : enough to tell messages apart, not enough to open one.
    static func maskedLink(_ link: String) -> String {
        guard let range = link.range(of: "/c/") ?? link.range(of: "/unsubscribe/") else { return link }
        let token = link[range.upperBound...]
        return String(link[..<range.upperBound]) + token.prefix(4) + (token.count > 4 ? "…" : "")
    }

    // MARK: - Clinician pages

    static func clinician(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/clinician/people", .roles([.clinician]), page: true) { _, context in
            let team = context.identity?.team ?? "\u{0}"
            let now = env.now()
            let people = try await env.store.caseload(team: team, now: now)
            try await env.store.audit(AuditEvent(at: now, actor: context.actor, action: "caseload.view",
                                                 personID: nil, detail: "\(people.count) people", requestID: context.id))
            let day = DateFormatter()
            day.locale = Locale(identifier: "en_GB")
            day.timeZone = TimeZone(identifier: env.configuration.settings.defaultTimeZone)
            day.dateFormat = "EEE d MMM"
            let rows = people.map { person in
                let measures = env.configuration.pathways[person.pathway]?.measures ?? []
                let scores = measures.compactMap { id -> String? in
                    guard let latest = person.latest[id], let total = latest.total else { return nil }
                    let title = env.configuration.instruments.definition(id)?.title ?? id
                    let band = latest.band.flatMap { band in env.configuration.instruments.definition(id)?.bands.first { $0.id == band }?.label }
                    return "\(HTML.escape(title)) \(total == total.rounded() ? String(Int(total)) : String(format: "%.1f", total))\(band.map { " (\(HTML.escape($0)))" } ?? "")"
                }.joined(separator: "<br>")
                let flags = person.openFlags == 0 ? "—" : "\(person.urgentFlags > 0 ? "<strong>\(person.urgentFlags) urgent</strong>, " : "")\(person.openFlags) open"
                return "<tr><td><a href=\"/clinician/people/\(HTML.escape(person.personID))\">\(HTML.escape(person.givenName))</a> <span class=\"muted\">\(HTML.escape(person.personID))</span>"
                    + " · <a href=\"/clinician/people/\(HTML.escape(person.personID))/review\">review pack</a></td>"
                    + "<td>\(HTML.escape(person.pathway)) · \(HTML.escape(person.mode))</td><td>\(person.overdueSince.map { "<strong>overdue since \(day.string(from: $0))</strong><br>" } ?? "")\(person.nextReview.map { day.string(from: $0) } ?? "—")</td><td>\(scores.isEmpty ? "—" : scores)</td><td>\(flags)</td></tr>"
            }.joined()
            return HTML.response(HTML.page(title: "Caseload", body: """
            <h1>Caseload: team \(HTML.escape(team))</h1>
            <p><a href="/clinician/flags">Open flags</a></p>
            <table><tr><th>Person</th><th>Pathway · mode</th><th>Next review</th><th>Latest scores</th><th>Flags</th></tr>\(rows)</table>
            """, signedIn: true))
        }
    }
}

