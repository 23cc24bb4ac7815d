import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Intake
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// Channel × timing × content, through the real routes: whatever arrives, and whenever, the raw reply is kept, the
/// answers are scored, a risk answer raises its urgent flag and the team alert, and the person is told the truth.
///
/// The person starts on 2 Nov 2026; the baseline check-in (PHQ-9, GAD-7, goals) closes 16 Nov 00:00 UTC and the
/// community pathway's grace is 72 h, so it ends 19 Nov 00:00.
@Suite("Replies: channel × timing × content", .serialized)
struct ReplyTimingTests {
    enum Channel: String, CaseIterable, Sendable { case form, sms, api, csv }
    enum Timing: String, CaseIterable, Sendable { case open, insideGrace, afterGrace, replanned }

    struct Case: Sendable, CustomStringConvertible {
        var channel: Channel
        var timing: Timing
        var risk: Bool
        var description: String { "\(channel) \(timing) \(risk ? "item 9 = 2" : "item 9 = 0")" }
    }

    static let cases: [Case] = Channel.allCases.flatMap { channel in
        Timing.allCases.flatMap { timing in [true, false].map { Case(channel: channel, timing: timing, risk: $0) } }
    }

    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func when(_ timing: Timing) -> Date {
        switch timing {
        case .open, .replanned: return Self.date("2026-11-10T10:00:00Z")
        case .insideGrace: return Self.date("2026-11-16T10:00:00Z")
        case .afterGrace: return Self.date("2026-11-20T10:00:00Z")
        }
    }

    /// Moves the clock to `timing` and runs the scheduler's tick there; for `replanned`, expires p1's open prompts the
    /// way the planner does when the review behind them moves or goes (tested in PlannerTests).
    func move(_ harness: Harness, to timing: Timing) async throws -> Date {
        let now = when(timing)
        harness.clock.set(now)
        _ = try await SchedulerRunner(env: harness.env).tick(now: now)
        if timing == .replanned {
            try await harness.env.store.transaction { db in
                try await db.raw("UPDATE prompts SET status = 'expired', status_reason = 'replanned' WHERE person_id = 'p1' AND status IN ('scheduled', 'sent')").run()
            }
        }
        return now
    }

    @Test("Raw kept, scored, flagged and alerted when at risk, the person told the truth", arguments: cases)
    func reply(_ item: Case) async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(Self.date("2026-11-02T09:00:00Z"))
        #expect(try await harness.worker().runOnce().accepted == 1)
        let env = harness.env
        let prompts = try await env.store.recentPrompts(personID: "p1", closedAfter: .distantPast)
        let phq9 = try #require(prompts.first { $0.instrument == "phq9" })
        let code = try #require(phq9.replyCode, "the reply-by-SMS message gave the prompt a code")
        // The link as the person got it: from the SMS the provider received.
        let sms = try #require(receiver.requests().first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any] }?["text"] as? String)
        let link = try #require(sms.split(separator: " ").first { $0.contains("/c/") })
        let token = String(link.split(separator: "/").last!)

        let now = try await move(harness, to: item.timing)
        let phq9Answers = [1, 1, 1, 1, 1, 1, 1, 1, item.risk ? 2 : 0]
        let total = item.risk ? 10.0 : 8.0
        let api = Credentials.newSecret(prefix: "rom_integration")
        try await env.store.insertToken(id: newID(), hash: Credentials.hash(api), role: .integration, team: nil, label: nil, now: now)

        let told = try await Application(router: Routes.router(env)).test(.router) { client -> String in
            switch item.channel {
            case .form:
                var fields = phq9Answers.enumerated().map { "a.\(phq9.id).\($0.offset + 1)=\($0.element)" }
                for prompt in prompts where prompt.instrument == "gad7" { fields += (1...7).map { "a.\(prompt.id).\($0)=0" } }
                for prompt in prompts where prompt.instrument == "goals" { fields.append("a.\(prompt.id).1=5") }
                let response = try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                        body: ByteBuffer(string: fields.joined(separator: "&") + "&action=send"))
                #expect(response.status == .ok)
                return String(buffer: response.body)
            case .sms:
                let pairs = [("MessageSid", "SM-\(item.timing)"), ("From", "+447700900001"), ("Body", "\(code) " + phq9Answers.map(String.init).joined(separator: " "))]
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                headers[HTTPField.Name("X-Twilio-Signature")!] = TwilioSignature.expected(url: "http://127.0.0.1:8080/inbound/sms/test-sms", parameters: pairs, authToken: "12345")
                let body = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
                let response = try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(response.status == .ok)
                return String(buffer: response.body)
            case .api:
                let json = #"{"id": "ext-1", "person": "p1", "instrument": "phq9", "prompt": "\#(phq9.id)", "answers": [\#(phq9Answers.map(String.init).joined(separator: ","))]}"#
                let response = try await client.execute(uri: "/api/v1/responses", method: .post,
                                                        headers: [.authorization: "Bearer \(api)", .contentType: "application/json"], body: ByteBuffer(string: json))
                #expect(response.status == .created)
                return String(buffer: response.body)
            case .csv:
                let outcome = try await ResponsesImporter(env: env).importCSV(
                    "id,person,instrument,completed_on,answers\npaper-1,p1,phq9,2026-11-09,\"\(phq9Answers.map(String.init).joined(separator: ","))\"\n", partial: false)
                #expect(outcome.problems.isEmpty)
                return "imported \(outcome.imported)"
            }
        }
        await env.background.drain()

        // Raw kept.
        let source = item.channel == .csv ? "paper" : item.channel.rawValue
        #expect(try await env.store.inboundReplies(source: source).count == 1, "the raw reply is stored once")
        // Scored, and where it counts.
        let rows = try await env.store.transaction { db in
            try await db.raw("""
                SELECT r.prompt_id, r.unsolicited_reason, r.about_prompt_id, s.total, p.answered_late FROM responses r JOIN scores s ON s.response_id = r.id
                LEFT JOIN prompts p ON p.id = r.prompt_id WHERE r.person_id = 'p1' AND r.instrument = 'phq9'
                """).all().map {
                (prompt: try $0.decode(column: "prompt_id", as: String?.self), reason: try $0.decode(column: "unsolicited_reason", as: String?.self),
                 about: try $0.decode(column: "about_prompt_id", as: String?.self), total: try $0.decode(column: "total", as: Double?.self),
                 late: try $0.decode(column: "answered_late", as: Int?.self))
            }
        }
        #expect(rows.count == 1, "one PHQ-9 response")
        let row = try #require(rows.first)
        #expect(row.total == total, "PHQ-9 total is the sum of the nine items (Kroenke et al. 2001)")
        switch (item.channel, item.timing) {
        case (.csv, _):
            #expect(row.prompt == nil && row.reason == nil, "a paper form names no prompt")
        case (_, .open):
            #expect(row.prompt == phq9.id && row.late == 0)
        case (_, .insideGrace):
            #expect(row.prompt == phq9.id && row.late == 1, "inside the grace the answers count for their prompt, late")
        case (_, .afterGrace):
            #expect(row.prompt == nil && row.reason == "after_grace" && row.about == phq9.id)
        case (_, .replanned):
            #expect(row.prompt == nil && row.reason == "replanned" && row.about == phq9.id)
        }
        // Flagged and alerted.
        let flags = try await env.store.openFlags(personID: "p1").filter { $0.kind == "PHQ9_ITEM9_POSITIVE" }
        #expect(flags.count == (item.risk ? 1 : 0))
        if item.risk { #expect(flags.first?.severity == "urgent") }
        let alerts = try await env.queueFlagAlerts(now: now)
        #expect(alerts.alerts == (item.risk ? 1 : 0), "an urgent flag goes to the team at once")
        // Told the truth.
        switch item.channel {
        case .form:
            let closed = item.timing == .afterGrace || item.timing == .replanned
            #expect(told.contains(closed ? "This check-in had closed" : "Thank you, your answers have been sent"))
            #expect(!told.contains("We already have your answers"))
            #expect(told.contains("SHOUT to 85258"), "crisis text on every ending page")
        case .sms:
            #expect(told.contains("received"))
            let replies = try await env.store.transaction { db in
                try await db.raw("SELECT COUNT(*) AS n FROM outbox_messages WHERE purpose = 'reply'").first()?.decode(column: "n", as: Int.self)
            }
            #expect(replies == 0, "answers that were used get no how-to-answer text")
        case .api:
            #expect(told.contains("\"total\":\(Int(total))"))
        case .csv:
            #expect(told == "imported 1")
        }
        await harness.close()
    }

    static let emailCases: [Case] = Timing.allCases.flatMap { timing in [true, false].map { Case(channel: .form, timing: timing, risk: $0) } }

    @Test("Email replies (Mailgun-signed, SPF pass) to the reply+<token>@ address: raw kept, CORE-10 scored where it counts, item 6 flagged and alerted",
          arguments: emailCases)
    func email(_ item: Case) async throws {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", certificate.cert), emailReplies: true)
        let address = try await harness.sendCoreEmail(server)
        let env = harness.env
        let core10 = try #require(try await env.store.recentPrompts(personID: "p1", closedAfter: .distantPast).first { $0.instrument == "core10" })

        let now = try await move(harness, to: item.timing)
        // CORE-10 item 6 is its risk item (any answer above 0).
        let answers = [0, 1, 2, 1, 0, item.risk ? 2 : 0, 1, 1, 0, 1]
        let body = Harness.mailgunForm([("recipient", address), ("sender", "ana@example.org"),
                                         ("body-plain", answers.map(String.init).joined(separator: " ") + "\n\nThanks\n"), ("Message-Id", "<m-\(item.timing)@mail>"),
                                         ("X-Mailgun-Dkim-Check-Result", "Pass")], token: "tok" + String(repeating: "0", count: 47), at: now)
        try await Application(router: Routes.router(env)).test(.router) { client in
            let response = try await client.execute(uri: "/inbound/email/test-email", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: body))
            #expect(response.status == .ok)
        }
        await env.background.drain()
        #expect(try await env.store.inboundReplies(source: "email").map(\.status) == ["processed"], "stored raw once, and used")
        let rows = try await env.store.transaction { db in
            try await db.raw("""
                SELECT r.prompt_id, r.unsolicited_reason, s.total, p.answered_late FROM responses r JOIN scores s ON s.response_id = r.id
                LEFT JOIN prompts p ON p.id = r.prompt_id WHERE r.person_id = 'p1' AND r.instrument = 'core10'
                """).all().map {
                (prompt: try $0.decode(column: "prompt_id", as: String?.self), reason: try $0.decode(column: "unsolicited_reason", as: String?.self),
                 total: try $0.decode(column: "total", as: Double?.self), late: try $0.decode(column: "answered_late", as: Int?.self))
            }
        }
        let row = try #require(rows.first)
        #expect(rows.count == 1)
        // CORE-10: items 2 and 3 reversed (4 − response), then the sum of ten items (0–40): 0+3+2+1+0+item 6+1+1+0+1.
        #expect(row.total == (item.risk ? 11 : 9))
        switch item.timing {
        case .open: #expect(row.prompt == core10.id && row.late == 0)
        case .insideGrace: #expect(row.prompt == core10.id && row.late == 1)
        case .afterGrace: #expect(row.prompt == nil && row.reason == "after_grace")
        case .replanned: #expect(row.prompt == nil && row.reason == "replanned")
        }
        let flags = try await env.store.openFlags(personID: "p1").filter { $0.kind == "CORE10_ITEM6_POSITIVE" }
        #expect(flags.count == (item.risk ? 1 : 0) && flags.allSatisfy { $0.severity == "urgent" })
        #expect(try await env.queueFlagAlerts(now: now).alerts == (item.risk ? 1 : 0))
        await harness.close()
    }

    @Test("The same risk answer delivered 20 times at once by SMS, email and the API stores one response, one flag and one alert per channel (R16)")
    func concurrentDeliveries() async throws {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: (server.port, "starttls", certificate.cert), replyBySMS: true, emailReplies: true)
        // p1 answers by SMS and p3 by the API (community pathway); p2 by email (core pathway).
        let address = try await harness.sendCoreEmail(server, rows: "p2,Ben,,ben@example.org,,core,2026-11-02,,north\np1,Ana,+447700900001,,,community,2026-11-02,,north\np3,Cy,+447700900003,,,community,2026-11-02,,north", person: "p2")
        let env = harness.env
        // The code p1's reply-by-SMS message gave the PHQ-9.
        let code = try #require(try await env.store.recentPrompts(personID: "p1", closedAfter: .distantPast).first { $0.instrument == "phq9" }?.replyCode)
        let api = Credentials.newSecret(prefix: "rom_integration")
        try await env.store.insertToken(id: newID(), hash: Credentials.hash(api), role: .integration, team: nil, label: nil, now: harness.clock.now)

        let smsPairs = [("MessageSid", "SM-R16"), ("From", "+447700900001"), ("Body", "\(code) 1 1 1 1 1 1 1 1 2")]
        let smsBody = smsPairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
        let smsSignature = TwilioSignature.expected(url: "http://127.0.0.1:8080/inbound/sms/test-sms", parameters: smsPairs, authToken: "12345")
        let mailBody = Harness.mailgunForm([("recipient", address), ("body-plain", "0 1 2 1 0 2 1 1 0 1"), ("Message-Id", "<r16@mail>")],
                                           token: "r16" + String(repeating: "b", count: 47), at: harness.clock.now)
        let apiBody = #"{"id": "ext-r16", "person": "p3", "instrument": "phq9", "answers": [0,0,0,0,0,0,0,0,3]}"#

        let statuses = try await Application(router: Routes.router(env)).test(.router) { client in
            try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                        headers[HTTPField.Name("X-Twilio-Signature")!] = smsSignature
                        return ("sms", try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: headers, body: ByteBuffer(string: smsBody)).status)
                    }
                    group.addTask {
                        ("email", try await client.execute(uri: "/inbound/email/test-email", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                           body: ByteBuffer(string: mailBody)).status)
                    }
                    group.addTask {
                        ("api", try await client.execute(uri: "/api/v1/responses", method: .post, headers: [.authorization: "Bearer \(api)", .contentType: "application/json"],
                                                         body: ByteBuffer(string: apiBody)).status)
                    }
                }
                return try await group.reduce(into: [String: [HTTPResponse.Status]]()) { $0[$1.0, default: []].append($1.1) }
            }
        }
        await env.background.drain()
        #expect(statuses["sms"]?.allSatisfy { $0 == .ok } == true && statuses["email"]?.allSatisfy { $0 == .ok } == true, "providers always get 2xx")
        #expect(statuses["api"]?.filter { $0 == .created }.count == 1 && statuses["api"]?.filter { $0 == .conflict }.count == 19, "\(statuses["api"] ?? [])")
        for (person, source, kind) in [("p1", "sms", "PHQ9_ITEM9_POSITIVE"), ("p2", "email", "CORE10_ITEM6_POSITIVE"), ("p3", "api", "PHQ9_ITEM9_POSITIVE")] {
            #expect(try await env.store.inboundReplies(source: source).count == 1, "\(source): one stored reply")
            let responses = try await env.store.transaction { db in
                try await db.raw("SELECT COUNT(*) AS n FROM responses WHERE person_id = \(bind: person)").first()?.decode(column: "n", as: Int.self)
            }
            #expect(responses == 1, "\(source): one response")
            #expect(try await env.store.openFlags(personID: person).filter { $0.kind == kind }.count == 1, "\(source): one flag")
        }
        #expect(try await env.queueFlagAlerts(now: harness.clock.now).alerts == 3, "one alert per channel")
        await harness.close()
    }

    @Test("The same form sent 20 times at once stores one response per measure, one flag and one alert (R16)")
    func concurrentForm() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let token = try await harness.sendBaseline()
        let prompts = try await harness.env.store.openPrompts(personID: "p1", now: harness.clock.now)
        var fields: [String] = []
        for prompt in prompts {
            let values = prompt.instrument == "phq9" ? [1, 1, 1, 1, 1, 1, 1, 1, 3] : prompt.instrument == "gad7" ? [0, 0, 0, 0, 0, 0, 0] : [4]
            fields += values.enumerated().map { "a.\(prompt.id).\($0.offset + 1)=\($0.element)" }
        }
        let body = fields.joined(separator: "&")
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let pages = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        String(buffer: try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                                body: ByteBuffer(string: body)).body)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(pages.filter { $0.contains("Thank you, your answers have been sent") }.count == 1)
            #expect(pages.filter { $0.contains("We already have your answers") }.count == 19, "the repeats are the same answers, already kept")
        }
        let counts = try await harness.env.store.transaction { db in
            try await db.raw("SELECT COUNT(*) AS n FROM responses WHERE person_id = 'p1'").first()?.decode(column: "n", as: Int.self)
        }
        #expect(counts == 3, "PHQ-9, GAD-7 and goals once each")
        #expect(try await harness.env.store.openFlags(personID: "p1").filter { $0.kind == "PHQ9_ITEM9_POSITIVE" }.count == 1)
        #expect(try await harness.env.queueFlagAlerts(now: harness.clock.now).alerts == 1)
        await harness.close()
    }
}
