import Delivery
import Foundation
import Intake
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// Inbound SMS at /inbound/sms/{gateway}, signed as Twilio signs (auth token 12345 in the harness environment).
@Suite("Inbound SMS", .serialized)
struct InboundSMSTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!

    func form(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
    }

    func send(_ client: some TestClientProtocol, _ pairs: [(String, String)], signed: Bool = true) async throws -> HTTPResponse.Status {
        let url = "http://127.0.0.1:8080/inbound/sms/test-sms"
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if signed { headers[HTTPField.Name("X-Twilio-Signature")!] = TwilioSignature.expected(url: url, parameters: pairs, authToken: "12345") }
        return try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: headers, body: ByteBuffer(string: form(pairs))).status
    }

    @Test("Unsigned or wrongly signed messages get 401 and store nothing; STOP opts out in the same transaction and stops sends; duplicates are stored once")
    func stopAndSignatures() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let stop = [("MessageSid", "SM1"), ("From", "+447700900001"), ("Body", "STOP")]
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let status1 = try await send(client, stop, signed: false); #expect(status1 == .unauthorized)
            var forged: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            forged[HTTPField.Name("X-Twilio-Signature")!] = TwilioSignature.expected(url: "http://evil.example/inbound/sms/test-sms", parameters: stop, authToken: "12345")
            let refused = try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: forged, body: ByteBuffer(string: form(stop)))
            #expect(refused.status == .unauthorized)
            #expect(try await harness.env.store.inboundReplies(source: "sms").isEmpty, "a refused message stores nothing")
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<20 { group.addTask { try await send(client, stop) } }
                for try await status in group { #expect(status == .ok) }
            }
        }
        await harness.env.background.drain()
        let replies = try await harness.env.store.inboundReplies(source: "sms")
        #expect(replies.count == 1, "20 deliveries of one MessageSid store one row")
        #expect(replies.first?.status == "processed" && replies.first?.reason == "opt_out")
        harness.clock.set(sendTime)
        let summary = try await harness.worker().runOnce()
        #expect(summary.failed == 1)
        #expect(receiver.requests().isEmpty, "nothing is sent after STOP")
        await harness.close()
    }

    @Test("Reply-by-SMS: the SMS names each prompt's code; a coded reply scores, an uncoded one with several open is quarantined and the person told how to answer")
    func answersAndQuarantine() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        let first = try await harness.worker().runOnce()
        #expect(first.accepted == 1, "one SMS for the person's three baseline prompts")
        let sent = try #require(receiver.requests().first?.body)
        #expect(sent.contains("P1, P2 and P3"), "the SMS names the three codes: \(sent)")
        for word in ["phq", "gad", "goal", "depress", "anxi"] { #expect(!sent.lowercased().contains(word), "no measure names in the SMS") }
        let open = try await harness.env.store.openPrompts(personID: "p1", now: sendTime)
        let phq9 = try #require(open.first { $0.instrument == "phq9" }?.replyCode)

        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let messages: [(String, String, String)] = [
                ("SM2", "+447700900999", "1 2 3"),
                ("SM3", "+447700900001", "please stop texting me"),
                ("SM4", "+447700900001", "1,2,0,3,1,0,2,1,1"),
                ("SM5", "+447700900001", "\(phq9.lowercased()) 1,2,0,3,1,0,2,1,1"),
                ("SM6", "+447700900001", "P77 1 2"),
                ("SM7", "+447700900001", "help"),
            ]
            for (sid, from, body) in messages {
                let status = try await send(client, [("MessageSid", sid), ("From", from), ("Body", body)])
                #expect(status == .ok)
            }
        }
        await harness.env.background.drain()
        let replies = try await harness.env.store.inboundReplies(source: "sms")
        #expect(replies.map(\.status) == ["quarantined", "quarantined", "quarantined", "processed", "quarantined", "processed"])
        #expect(replies[0].reason == "unknown_number")
        #expect(replies[1].reason == "free_text_opt_out")
        #expect(replies[2].reason == "ambiguous: 3 open prompts", "no code and three coded prompts open")
        #expect(replies[4].reason == "unknown code P77")
        #expect(replies[5].reason == "help")
        let flags = try await harness.env.store.openFlags(personID: "p1")
        #expect(flags.contains { $0.kind == "PHQ9_ITEM9_POSITIVE" && $0.severity == "urgent" })

        // Auto-replies: one how-to-answer a day (not two for SM4 and SM6), the help text, none to the unknown number
        // or to the free-text opt-out.
        let queued = try await harness.env.store.outboxRows().filter { $0.purpose == "reply" }
        #expect(queued.map(\.key).sorted() == queued.map(\.key).sorted() && queued.count == 2)
        #expect(queued.contains { $0.key.hasPrefix("reply:how_to_answer:") } && queued.contains { $0.key.hasPrefix("reply:help:") })
        receiver.clear()
        let summary = try await harness.worker().runOnce()
        #expect(summary.accepted >= 2)
        let bodies = receiver.requests().map(\.body)
        #expect(bodies.contains { $0.contains("Reply STOP to stop them") && $0.contains("+447700900001") })
        #expect(bodies.contains { $0.contains("Sorry, we could not read that") })
        #expect(!bodies.contains { $0.contains("+447700900999") }, "nothing to a number we do not know")
        await harness.close()
    }

    @Test("After STOP, auto-replies are not sent either")
    func noReplyAfterStop() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            _ = try await send(client, [("MessageSid", "SM1"), ("From", "+447700900001"), ("Body", "HELP")])
            _ = try await send(client, [("MessageSid", "SM2"), ("From", "+447700900001"), ("Body", "STOP")])
        }
        await harness.env.background.drain()
        _ = try await harness.worker().runOnce()
        #expect(receiver.requests().isEmpty, "the help reply was queued before STOP but is re-checked at send time")
        let reply = try #require(try await harness.env.store.outboxRows().first { $0.purpose == "reply" })
        #expect(reply.status == "failed" && reply.error == "opted out of sms")
        await harness.close()
    }
}

@Suite("Stored replies after a crash", .serialized)
struct ReprocessTests {
    @Test("A reply stored raw but never processed (a crash in between) is processed on restart: the risk answer is flagged")
    func reprocess() async throws {
        let harness = try await Harness.make(receiver: try HTTPReceiver(), smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        try await harness.env.store.transaction { db in
            try await db.raw("UPDATE prompts SET status = 'answered' WHERE instrument <> 'phq9'").run()
            // As if sent as a reply-by-SMS prompt.
            try await db.raw("UPDATE prompts SET reply_code = 'P1' WHERE instrument = 'phq9'").run()
        }
        let now = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        harness.clock.set(now)
        // The webhook stored the message, then the service died before parsing it.
        let stored = try await harness.env.store.receiveSMS(gateway: "test-sms", eventID: "SM9", from: "+447700900001",
                                                            rawBody: Array("MessageSid=SM9&From=%2B447700900001&Body=0+0+0+0+0+0+0+0+2".utf8),
                                                            contentType: "application/x-www-form-urlencoded", optIn: nil, now: now)
        #expect(stored != nil)
        #expect(try await harness.env.store.inboundReplies(source: "sms").map(\.status) == ["received"])
        #expect(try await ReplyPipeline(env: harness.env).reprocessPending(now: now) == 1)
        #expect(try await harness.env.store.inboundReplies(source: "sms").map(\.status) == ["processed"])
        let flags = try await harness.env.store.openFlags(personID: "p1")
        #expect(flags.contains { $0.kind == "PHQ9_ITEM9_POSITIVE" && $0.severity == "urgent" })
        #expect(try await ReplyPipeline(env: harness.env).reprocessPending(now: now) == 0, "processed once")
        await harness.close()
    }

    @Test("A backlog bigger than one page (1,100 stored replies) is processed in one sweep; one resumed by id (a full queue's overflow) is processed once")
    func backlog() async throws {
        let harness = try await Harness.make(receiver: try HTTPReceiver(), smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let now = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        harness.clock.set(now)
        var first: String?
        for index in 0..<1_101 {
            // Free text from p1: each waits in the team inbox once processed.
            let stored = try await harness.env.store.receiveSMS(gateway: "test-sms", eventID: "SM\(index)", from: "+447700900001",
                                                                rawBody: Array("MessageSid=SM\(index)&From=%2B447700900001&Body=thanks".utf8),
                                                                contentType: "application/x-www-form-urlencoded", optIn: nil, now: now)
            if first == nil { first = stored?.replyID }
        }
        let pipeline = ReplyPipeline(env: harness.env)
        #expect(try await pipeline.reprocess(replyID: try #require(first), now: now), "the overflow's resume processes the stored reply")
        #expect(try await pipeline.reprocess(replyID: try #require(first), now: now) == false, "and only once")
        #expect(try await pipeline.reprocessPending(now: now) == 1_100, "every other one in one sweep, past the 500-row page")
        #expect(try await harness.env.store.inboundReplies(source: "sms").allSatisfy { $0.status != "received" })
        #expect(try await pipeline.reprocessPending(now: now) == 0)
        await harness.close()
    }
}
