import Crypto
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

/// Email replies: the prompt goes out through aiosmtpd with `Reply-To: reply+<token>@in.example.org`; the reply comes
/// back as Mailgun's parsed-email webhook (form fields, signature over timestamp + token).
@Suite("Inbound email", .serialized)
struct InboundEmailTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
    /// hex HMAC-SHA256("key-mailgun-test", "1793610000" + token), computed with Python's hmac module.
    let token = "abcdef0123456789abcdef0123456789abcdef0123456789ab"
    let signature = "26ccedcf1180b6e8e2b0fc3559f21a5767b4508de091660f5b4811465b17f7b5"

    /// Posts a Mailgun-style webhook. The first message uses the token and signature computed with Python's hmac; the
    /// others get their own token (a token seen with one body is refused with another: replay protection), signed
    /// here with swift-crypto's HMAC.
    func post(_ client: some TestClientProtocol, _ fields: [(String, String)], signature: String? = nil, token: String? = nil) async throws -> HTTPResponse.Status {
        let passing = fields.contains { $0.0.hasPrefix("X-Mailgun") } ? [] : [("X-Mailgun-Spf", "Pass"), ("X-Mailgun-Dkim-Check-Result", "Pass")]
        let used = token ?? self.token
        let signed = signature ?? (token == nil ? self.signature
            : HMAC<SHA256>.authenticationCode(for: Data(("1793610000" + used).utf8), using: SymmetricKey(data: Data("key-mailgun-test".utf8))).map { String(format: "%02x", $0) }.joined())
        let all = fields + passing + [("timestamp", "1793610000"), ("token", used), ("signature", signed)]
        let body = all.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        return try await client.execute(uri: "/inbound/email/test-email", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                        body: ByteBuffer(string: body)).status
    }

    @Test("A reply to reply+<token>@ is matched to its person, quoted history dropped, scored and flagged; bad signatures get 401; unknown addresses wait in quarantine")
    func replyRoundTrip() async throws {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", certificate.cert), emailReplies: true)
        try await harness.seed("p1,Ana,,ana@example.org,,core,2026-11-02,,north")
        try await harness.env.store.transaction { db in
            // Leave the CORE-10 open only, so an uncoded reply has one prompt to answer.
            try await db.raw("UPDATE prompts SET status = 'answered' WHERE instrument <> 'core10'").run()
        }
        harness.clock.set(sendTime)
        #expect(try await harness.worker().runOnce().accepted == 1)
        let mail = try #require(server.messages().first)
        let replyTo = try #require(mail.components(separatedBy: "\r\n").first { $0.hasPrefix("Reply-To:") })
        let address = String(replyTo.dropFirst("Reply-To: ".count))
        #expect(address.hasPrefix("reply+") && address.hasSuffix("@in.example.org"))
        let replyToken = String(address.dropFirst("reply+".count).prefix { $0 != "@" })
        // The reply token does not open the check-in form.
        #expect(try await harness.env.store.checkinPerson(tokenHash: LinkSigner.hash(replyToken), now: sendTime) == nil)

        // CORE-10 item 6 (a risk item in the definition) answered 2.
        let text = "0 1 2 1 0 2 1 1 0 1\n\nThanks\n\nOn Mon, 2 Nov 2026 at 09:00, Check-in <checkin@example.org> wrote:\n> Hi Ana, your check-in is ready\n"
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let forged = try await post(client, [("recipient", address), ("body-plain", text), ("Message-Id", "<m1@mail>")], signature: String(repeating: "0", count: 64))
            #expect(forged == .unauthorized)
            #expect(try await harness.env.store.inboundReplies(source: "email").isEmpty, "a refused request stores nothing")
            let ok = try await post(client, [("recipient", "Check-in <\(address)>"), ("sender", "ana@example.org"), ("body-plain", text), ("Message-Id", "<m1@mail>")])
            #expect(ok == .ok)
            let again = try await post(client, [("recipient", "Check-in <\(address)>"), ("sender", "ana@example.org"), ("body-plain", text), ("Message-Id", "<m1@mail>")])
            #expect(again == .ok)
            let stranger = try await post(client, [("recipient", "reply+AAAAAAAAAAAAAAAAAAAAAAAA@in.example.org"), ("body-plain", "1 2 3"), ("Message-Id", "<m2@mail>")], token: "t2" + String(repeating: "0", count: 48))
            #expect(stranger == .ok)
            let stop = try await post(client, [("recipient", address), ("body-plain", "STOP\n\n> quoted"), ("Message-Id", "<m3@mail>")], token: "t3" + String(repeating: "0", count: 48))
            #expect(stop == .ok)
            // Right address, but the provider could not authenticate the sender: kept, never scored.
            let spoofed = try await post(client, [("recipient", address), ("body-plain", "3 3 3 3 3 3 3 3 3 3"), ("Message-Id", "<m4@mail>"),
                                                  ("X-Mailgun-Spf", "Fail"), ("X-Mailgun-Dkim-Check-Result", "Fail")], token: "t4" + String(repeating: "0", count: 48))
            #expect(spoofed == .ok)
        }
        await harness.env.background.drain()
        let replies = try await harness.env.store.inboundReplies(source: "email")
        #expect(replies.map(\.status) == ["processed", "quarantined", "processed", "quarantined"], "the duplicate is stored once")
        #expect(replies[3].reason == "sender_not_authenticated")
        #expect(replies[1].reason == "unknown_reply_address")
        #expect(replies[2].reason == "opt_out")
        let scores = try await harness.env.store.read { db in
            try await db.raw("SELECT total FROM scores WHERE person_id = 'p1' AND instrument = 'core10'").all().map { try $0.decode(column: "total", as: Double.self) }
        }
        // CORE-10: items 2 and 3 reversed (4 − x), clinical score = mean × 10 = the sum for ten answers:
        // 0 + 3 + 2 + 1 + 0 + 2 + 1 + 1 + 0 + 1 = 11.
        #expect(scores == [11])
        #expect(try await harness.env.store.openFlags(personID: "p1").contains { $0.kind == "CORE10_ITEM6_POSITIVE" && $0.severity == "urgent" })
        await harness.close()
    }
}
