import Foundation
import Intake
import Instruments
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// Urgent flags reach the team through the outbox (config/rom.yaml `teams.default` → the sandbox email gateway),
/// and go to the escalation address when nobody acknowledges them within 30 minutes.
@Suite("Urgent flag alerts", .serialized)
struct TeamAlertTests {
    let raised = ISO8601DateFormatter().date(from: "2026-11-02T10:00:00Z")!

    /// Scores a PHQ-9 with item 9 answered 2 through the API path, raising an urgent flag.
    func raiseUrgentFlag(_ harness: Harness) async throws -> String {
        try await harness.seed("p1,Ana,+447700900001,ana@example.org,,community,2026-11-02,,north")
        harness.clock.set(raised)
        let prompt = try #require(try await harness.env.store.openPrompts(personID: "p1", now: raised).first { $0.instrument == "phq9" })
        try await harness.env.store.transaction { db in
            try await db.raw("UPDATE prompts SET reply_code = 'P1' WHERE id = \(bind: prompt.id)").run()
        }
        let stored = try await harness.env.store.receiveSMS(gateway: "sandbox-sms", eventID: "SM1", from: "+447700900001",
                                                            rawBody: [], contentType: "", optIn: nil, now: raised)
        let answer = try await ReplyPipeline(env: harness.env).answer([1, 1, 1, 1, 1, 1, 1, 1, 2], instrument: "phq9", placement: .onTime(prompt),
                                                                      personID: "p1", source: "sms").get()
        try await harness.env.store.storeScoredReply(replyID: try #require(stored).replyID, personID: "p1", source: "sms", answers: [answer], now: raised)
        let flag = try #require(try await harness.env.store.flags(team: "north", openOnly: true).first { $0.severity == "urgent" })
        return flag.id
    }

    func teamMessages(_ harness: Harness) async throws -> [(to: String, subject: String?, body: String)] {
        try await harness.env.store.sandboxMessages().filter { $0.recipient.hasSuffix("@example.nhs.uk") }.map { ($0.recipient, $0.subject, $0.body) }
    }

    @Test("An urgent flag is sent to the team once, names nobody, and escalates after 30 minutes without acknowledgement")
    func alertAndEscalate() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let flagID = try await raiseUrgentFlag(harness)
        _ = try await BackgroundServices.drain(harness.env)
        _ = try await BackgroundServices.drain(harness.env)
        var team = try await teamMessages(harness)
        #expect(team.count == 1, "one alert however often the dispatcher runs")
        let alert = try #require(team.first)
        #expect(alert.to == "duty-team@example.nhs.uk")
        #expect(alert.body.contains("/clinician/flags#\(flagID)"))
        // The flag's id is random base-36 and may contain "p1" or "phq" by chance: look for names only outside it.
        let words = alert.body.replacingOccurrences(of: flagID, with: "#") + " " + (alert.subject ?? "")
        for secret in ["Ana", "p1", "phq", "PHQ", "item"] { #expect(!words.contains(secret), "\(secret) in \(words)") }

        harness.clock.set(raised.addingTimeInterval(29 * 60))
        _ = try await BackgroundServices.drain(harness.env)
        #expect(try await teamMessages(harness).count == 1, "not escalated before 30 minutes")
        harness.clock.set(raised.addingTimeInterval(30 * 60))
        _ = try await BackgroundServices.drain(harness.env)
        _ = try await BackgroundServices.drain(harness.env)
        team = try await teamMessages(harness)
        #expect(team.map(\.to) == ["duty-team@example.nhs.uk", "team-manager@example.nhs.uk"] || team.map(\.to) == ["team-manager@example.nhs.uk", "duty-team@example.nhs.uk"])
        #expect(team.count == 2, "escalated once")
        await harness.close()
    }

    @Test("At 03:00 an urgent flag still reaches the team at once, while the person's check-in waits for the send window")
    func alertAtNight() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        _ = try await raiseUrgentFlag(harness)
        let night = ISO8601DateFormatter().date(from: "2026-11-03T03:00:00Z")!
        harness.clock.set(night)
        _ = try await BackgroundServices.drain(harness.env)
        #expect(try await teamMessages(harness).map(\.to).contains("duty-team@example.nhs.uk"))
        let toPerson = try await harness.env.store.sandboxMessages().filter { !$0.recipient.hasSuffix("@example.nhs.uk") }
        #expect(toPerson.isEmpty, "nothing to the person at night")
        let prompts = try await harness.env.store.outboxRows().filter { $0.purpose == "prompt" && $0.status == "queued" }
        #expect(!prompts.isEmpty && prompts.allSatisfy { $0.due == ISO8601DateFormatter().date(from: "2026-11-03T09:00:00Z")!.millis })
        await harness.close()
    }

    @Test("An acknowledged flag does not escalate")
    func acknowledgedDoesNotEscalate() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let flagID = try await raiseUrgentFlag(harness)
        _ = try await BackgroundServices.drain(harness.env)
        harness.clock.set(raised.addingTimeInterval(10 * 60))
        _ = try await harness.env.store.advanceFlag(id: flagID, to: "acknowledged", by: "tok_clinician", note: nil, now: harness.clock.now)
        harness.clock.set(raised.addingTimeInterval(2 * 3_600))
        _ = try await BackgroundServices.drain(harness.env)
        #expect(try await teamMessages(harness).map(\.to) == ["duty-team@example.nhs.uk"])
        await harness.close()
    }

    @Test("A person's opt-out does not stop an alert about them reaching their team")
    func optOutDoesNotBlockAlert() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        _ = try await raiseUrgentFlag(harness)
        try await harness.env.store.recordConsent(personID: "p1", channel: "email", optedIn: false, source: "test", inboundReplyID: nil, now: raised)
        _ = try await BackgroundServices.drain(harness.env)
        #expect(try await teamMessages(harness).count == 1)
        await harness.close()
    }
}
