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

/// A provider that is down must not stop replies coming in, nor lose the alert a risk answer raises (R38, and R36's
/// "alert channel down at scoring time, restored later: delivered once").
@Suite("Graceful degradation", .serialized)
struct DegradationTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!

    func rows(_ harness: Harness, _ sql: String) async throws -> Int {
        try await harness.env.store.read { db in try await db.raw(SQLQueryString(stringLiteral: sql)).first()?.decode(column: "n", as: Int.self) ?? -1 }
    }

    @Test("With the SMS provider refusing every send for an hour, a risk answer by SMS is acknowledged, stored once, scored and flagged; the team alert keeps trying and is delivered exactly once within five minutes of the provider's return")
    func providerDownAtScoringTime() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true, teams: """
              default:
                alert: { gateway: test-sms, to: "+447700900999" }
                escalate: { to: "+447700900888", after: 12h }
            """)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        #expect(try await harness.worker().runOnce().accepted == 1, "the check-in SMS went out before the outage")
        let code = try #require(try await harness.env.store.openPrompts(personID: "p1", now: sendTime).first { $0.instrument == "phq9" }?.replyCode)

        // The provider goes down; the person answers with PHQ-9 item 9 = 2.
        try receiver.setMode("503")
        harness.clock.set(sendTime.addingTimeInterval(600))
        let pairs = [("MessageSid", "SM-risk"), ("From", "+447700900001"), ("Body", "\(code) 1 1 1 1 1 1 1 1 2")]
        var signed: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        signed[HTTPField.Name("X-Twilio-Signature")!] = TwilioSignature.expected(url: "http://127.0.0.1:8080/inbound/sms/test-sms", parameters: pairs, authToken: "12345")
        let headers = signed
        let body = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let answered = try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(answered.status == .ok, "the reply is acknowledged although nothing can be sent")
        }
        await harness.env.background.drain()
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM inbound_replies WHERE status = 'processed'") == 1)
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM responses WHERE instrument = 'phq9'") == 1)
        // PHQ-9 total: the sum of the nine items, 1×8 + 2 = 10 (instruments.md); item 9 > 0 is a risk flag.
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM scores WHERE instrument = 'phq9' AND total = 10") == 1)
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM flags WHERE severity = 'urgent'") == 1)

        // An hour of failed attempts: the alert is queued once and retried with backoff, never dropped.
        for minute in stride(from: 10, through: 70, by: 5) {
            harness.clock.set(sendTime.addingTimeInterval(Double(minute) * 60))
            _ = try await BackgroundServices.drain(harness.env)
        }
        let refusedAttempts = receiver.requests().filter { $0.body.contains("+447700900999") }.count
        #expect(refusedAttempts >= 5, "the alert was tried while the provider was down: \(refusedAttempts)")
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM outbox_messages WHERE purpose = 'team_alert' AND status = 'queued'") == 1, "still waiting, not dead")

        // The provider is back: an urgent alert's backoff is capped at five minutes, so it goes within five minutes,
        // once, however often the dispatcher runs.
        try receiver.setMode("ok")
        for minute in stride(from: 71, through: 76, by: 1) {
            harness.clock.set(sendTime.addingTimeInterval(Double(minute) * 60))
            _ = try await BackgroundServices.drain(harness.env)
        }
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM outbox_messages WHERE purpose = 'team_alert' AND status = 'accepted'") == 1)
        #expect(try await rows(harness, "SELECT COUNT(*) AS n FROM outbox_messages WHERE purpose = 'team_alert'") == 1, "one alert row for the one flag")
        let accepted = receiver.requests().filter { $0.body.contains("+447700900999") }
        #expect(Set(accepted.compactMap { $0.headers["webhook-id"] }).count == 1, "every attempt carried the alert's one key")
        await harness.close()
    }
}
