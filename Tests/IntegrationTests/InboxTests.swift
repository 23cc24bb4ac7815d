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

/// Everything unmatched reaches a person: the team inbox, its actions, and the risk-phrase safety net.
@Suite("Team inbox", .serialized)
struct InboxTests {
    let now = ISO8601DateFormatter().date(from: "2026-11-03T10:00:00Z")!

    func sms(_ client: some TestClientProtocol, id: String, from: String, _ text: String) async throws -> HTTPResponse.Status {
        let pairs = [("MessageSid", id), ("From", from), ("Body", text)]
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        headers[HTTPField.Name("X-Twilio-Signature")!] = TwilioSignature.expected(url: "http://127.0.0.1:8080/inbound/sms/test-sms", parameters: pairs, authToken: "12345")
        let body = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        return try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: headers, body: ByteBuffer(string: body)).status
    }

    func token(_ env: ServiceEnvironment, _ role: Role, team: String? = nil) async throws -> String {
        let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
        try await env.store.insertToken(id: newID(), hash: Credentials.hash(secret), role: role, team: team, label: "\(role) \(team ?? "")", now: now)
        return secret
    }

    func json(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ token: String, _ body: String = "") async throws -> (HTTPResponse.Status, [String: Any]) {
        try await Harness.json(client, method, uri, token, body)
    }

    @Test("Free text, unreadable and unknown-number replies wait in the inbox with their reason, oldest first, per team; a risk phrase raises an urgent flag and the team alert at once")
    func inboxAndRiskPhrases() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,+447700900002,,,community,2026-11-02,,south")
        harness.clock.set(now)
        let env = harness.env
        let north = try await token(env, .clinician, team: "north")
        let south = try await token(env, .clinician, team: "south")
        let ops = try await token(env, .ops)
        try await Application(router: Routes.router(env)).test(.router) { client in
            #expect(try await sms(client, id: "SM1", from: "+447700900001", "please stop texting me") == .ok)
            harness.clock.advance(by: 60)
            #expect(try await sms(client, id: "SM2", from: "+447700900001", "I can't do this any more") == .ok)
            harness.clock.advance(by: 60)
            #expect(try await sms(client, id: "SM3", from: "+447700900999", "who is this?") == .ok)
            harness.clock.advance(by: 60)
            #expect(try await sms(client, id: "SM4", from: "+447700900002", "P77 1 2 3") == .ok)
            await env.background.drain()

            let (status, listed) = try await json(client, .get, "/api/v1/inbox", north)
            #expect(status == .ok)
            let items = try #require(listed["items"] as? [[String: Any]])
            #expect(items.map { $0["text"] as? String } == ["please stop texting me", "I can't do this any more"], "north's two, oldest first")
            #expect(items.map { $0["reason"] as? String } == ["free_text_opt_out", "unreadable: the reply has words in it; reply with numbers only"])
            #expect(items.allSatisfy { $0["person"] as? String == "p1" && $0["channel"] as? String == "sms" && $0["status"] as? String == "quarantined" })
            #expect(items.map { $0["urgent_flag"] as? Bool } == [false, true], "the risk phrase's item says its flag was raised")
            #expect(items.allSatisfy { ($0["received_at"] as? String)?.hasPrefix("2026-11-03T10:0") == true })
            let southItems = try #require(try await json(client, .get, "/api/v1/inbox", south).1["items"] as? [[String: Any]])
            #expect(southItems.map { $0["reason"] as? String } == ["unknown code P77"])
            let all = try #require(try await json(client, .get, "/api/v1/inbox", ops).1["items"] as? [[String: Any]])
            #expect(all.count == 4 && all.contains { $0["person"] == nil && $0["reason"] as? String == "unknown_number" }, "ops see every team and unknown senders")

            // The risk phrase: an urgent flag at once, the team told, and the reply still waits for a person to read it.
            let flags = try await env.store.openFlags(personID: "p1")
            #expect(flags.map(\.kind) == ["free_text_risk"])
            #expect(flags.first?.severity == "urgent")
            #expect(try await env.queueFlagAlerts(now: harness.clock.now).alerts == 1)
            // Nobody is sent a "how to answer" text after writing that they cannot go on, or asking us to stop.
            let replies = try await env.store.transaction { db in
                try await db.raw("SELECT COUNT(*) AS n FROM outbox_messages WHERE purpose = 'reply' AND person_id = 'p1'").first()?.decode(column: "n", as: Int.self)
            }
            #expect(replies == 0)

            // Actions: another team's item is not found; handled needs a note; opt-out records consent; match scores.
            let stopID = try #require(items.first?["id"] as? String)
            let riskID = try #require(items.last?["id"] as? String)
            #expect(try await json(client, .post, "/api/v1/inbox/\(stopID)/handled", south, #"{"note": "x"}"#).0 == .notFound)
            let (noNote, problem) = try await json(client, .post, "/api/v1/inbox/\(riskID)/handled", north, "{}")
            #expect(noNote == .unprocessableContent && problem["code"] as? String == "note_required")
            let (handled, handledItem) = try await json(client, .post, "/api/v1/inbox/\(riskID)/handled", north, #"{"note": "Rang Ana: safe, crisis plan reviewed"}"#)
            #expect(handled == .ok && handledItem["status"] as? String == "processed" && handledItem["handled_note"] as? String == "Rang Ana: safe, crisis plan reviewed")
            #expect(try await json(client, .post, "/api/v1/inbox/\(riskID)/handled", north, #"{"note": "again"}"#).0 == .conflict, "handled once")
            #expect(try await json(client, .post, "/api/v1/inbox/\(stopID)/opt-out", north, "{}").0 == .ok)
            #expect(try await env.store.suppression(personID: "p1", channel: "sms") == "opted out of sms")

            // A coded reply with an unknown code, matched by a clinician to the person's PHQ-9 with the answers typed.
            let codeID = try #require(southItems.first?["id"] as? String)
            let phq9 = try #require(try await env.store.openPrompts(personID: "p2", now: harness.clock.now).first { $0.instrument == "phq9" })
            let (bad, badBody) = try await json(client, .post, "/api/v1/inbox/\(codeID)/match", south, #"{"prompt": "\#(phq9.id)", "answers": "1,2,3"}"#)
            #expect(bad == .unprocessableContent, "three answers for a nine-item form: \(badBody)")
            let (outOfRange, problemBody) = try await json(client, .post, "/api/v1/inbox/\(codeID)/match", south, #"{"prompt": "\#(phq9.id)", "answers": "1,2,3,0,7,0,0,0,1"}"#)
            #expect(outOfRange == .unprocessableContent && problemBody["item"] as? Int == 5 && problemBody["code"] as? String == "out_of_range",
                    "a typed answer out of range names its item: \(problemBody)")
            let (matched, _) = try await json(client, .post, "/api/v1/inbox/\(codeID)/match", south, #"{"prompt": "\#(phq9.id)", "answers": "1,2,3,0,0,0,0,0,1"}"#)
            #expect(matched == .ok)
            let scored = try await env.store.transaction { db in
                try await db.raw("SELECT s.total, r.prompt_id FROM responses r JOIN scores s ON s.response_id = r.id WHERE r.person_id = 'p2'").all().map {
                    (try $0.decode(column: "total", as: Double?.self), try $0.decode(column: "prompt_id", as: String?.self))
                }
            }
            #expect(scored.count == 1 && scored.first?.0 == 7 && scored.first?.1 == phq9.id, "PHQ-9 total is the sum of its items: 1+2+3+1 = 7")
            #expect(try await env.store.openFlags(personID: "p2").contains { $0.kind == "PHQ9_ITEM9_POSITIVE" && $0.severity == "urgent" })

            let left = try #require(try await json(client, .get, "/api/v1/inbox", ops).1["items"] as? [[String: Any]])
            #expect(left.map { $0["reason"] as? String } == ["unknown_number"], "only the unknown sender is left")
            let audit = try await env.store.auditEvents(limit: 50).map(\.action)
            for action in ["inbox.list", "inbox.handled", "inbox.opt-out", "inbox.match"] { #expect(audit.contains(action), "\(action) audited") }

            // The page: every waiting item with its reason in words and its actions.
            let page = try await client.execute(uri: "/clinician/inbox", method: .get, headers: [.authorization: "Bearer \(ops)"])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("who is this?") && html.contains("the number is not one of our people"))
            #expect(html.contains("Mark handled"))
        }
        await harness.close()
    }

    @Test("An uncoded email reply answers the message its reply+<token>@ address names, even when another check-in is open too")
    func emailAnswersItsMessage() async throws {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", certificate.cert), emailReplies: true)
        let address = try await harness.sendCoreEmail(server)
        // Another check-in opens for the person that this email did not ask about.
        try await harness.env.store.transaction { db in
            try await db.raw("""
                INSERT INTO prompts (id, enrolment_id, review_id, person_id, instrument, kind, send_at_ms, closes_at_ms, status, idempotency_key, created_at_ms, review_at_ms)
                SELECT 'pr_other', enrolment_id, 'rv_other', person_id, 'phq9', 'review', send_at_ms, closes_at_ms, 'scheduled', 'key-other', created_at_ms, review_at_ms
                FROM prompts WHERE person_id = 'p1' AND instrument = 'core10'
                """).run()
        }
        let body = Harness.mailgunForm([("recipient", address), ("body-plain", "0 1 2 1 0 0 1 1 0 1"), ("Message-Id", "<own@mail>")],
                                       token: "own" + String(repeating: "c", count: 47), at: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let response = try await client.execute(uri: "/inbound/email/test-email", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: body))
            #expect(response.status == .ok)
        }
        await harness.env.background.drain()
        #expect(try await harness.env.store.inboundReplies(source: "email").map(\.status) == ["processed"], "scored, not left ambiguous in the inbox")
        let answered = try await harness.env.store.transaction { db in
            try await db.raw("SELECT instrument FROM responses WHERE person_id = 'p1'").all().map { try $0.decode(column: "instrument", as: String.self) }
        }
        #expect(answered == ["core10"], "against the message's own CORE-10, not the PHQ-9 it did not ask about")
        await harness.close()
    }

    @Test("A check-in form whose answers cannot be scored after the link ended is kept in the inbox with a risk answer flagged")
    func unscorableFormAfterClosing() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let token = try await harness.sendBaseline()
        let phq9 = try #require(try await harness.env.store.openPrompts(personID: "p1", now: harness.clock.now).first { $0.instrument == "phq9" })
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-25T10:00:00Z")!)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            // Item 9 answered 3 and item 2 answered 7: out of range, so not scorable.
            let response = try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: "a.\(phq9.id).1=1&a.\(phq9.id).2=7&a.\(phq9.id).9=3"))
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("This check-in had closed"))
        }
        let items = try await harness.env.store.inboxItems(team: "north")
        #expect(items.count == 1 && items.first?.channel == "form" && items.first?.reason?.contains("out_of_range") == true)
        let text = ReplyPipeline(env: harness.env).text(of: try #require(items.first).rawBody, contentType: "application/x-www-form-urlencoded", source: "form", gateway: "checkin")
        #expect(text == "Check-in form: answers item 1 = 1, item 2 = 7, item 9 = 3", "the inbox shows the answers, not the raw fields")
        #expect(try await harness.env.store.openFlags(personID: "p1").contains { $0.kind == "PHQ9_ITEM9_POSITIVE" && $0.severity == "urgent" })
        await harness.close()
    }
}
