import Delivery
import Foundation
import Intake
import ROMService
import Prometheus
import ROMTesting
import SQLKit
import Storage
import Testing

/// What the dispatcher decides just before each send: opt-outs that land mid-batch, and alerts that cannot be delivered.
@Suite("Send-time checks", .serialized)
struct SendTimeChecksTests {
    @Test("A STOP committed while a 1,000-message batch is in flight stops every later send to those numbers (R22)")
    func stopMidBatch() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let concurrency = 16
        // Three outbox rows per message (PHQ-9, GAD-7, goals): a claim of 3,000 rows is the 1,000 messages.
        let harness = try await Harness.make(receiver: receiver, smtp: nil, dispatcherBatch: 3_000)
        let people = (1...1_000).map { String(format: "p%04d,Person,+4477009%05d,,,community,2026-11-02,,north", $0, $0) }
        try await harness.seed(people.joined(separator: "\n"))
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        try receiver.setMode("slow:10")
        let worker = harness.worker(concurrency: concurrency)
        let pass = Task { try await worker.runOnce() }
        // Once a hundred have gone, everyone not yet sent to replies STOP.
        var sentBefore: Set<String> = []
        for _ in 0..<500 {
            sentBefore = Set(receiver.requests().compactMap { Self.recipient($0.body) })
            if sentBefore.count >= 100 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(sentBefore.count >= 100 && sentBefore.count < 900, "the batch is still in flight")
        let stopped = (1...1_000).map { String(format: "+4477009%05d", $0) }.filter { !sentBefore.contains($0) }
        // All the STOPs in one transaction, as a burst of inbound STOPs would land.
        let stamp = Int64(harness.clock.now.timeIntervalSince1970 * 1000)
        try await harness.env.store.transaction { db in
            for number in stopped {
                try await db.raw("""
                    INSERT INTO consents (id, person_id, channel, status, source, inbound_reply_id, recorded_at_ms)
                    SELECT \(bind: "cs_" + newID()), person_id, 'sms', 'opted_out', 'sms_keyword', NULL, \(bind: stamp) FROM contact_points WHERE address = \(bind: number)
                    """).run()
            }
        }
        // What had reached the provider when the STOPs were committed; at most `concurrency` more sends can have been on
        // their way then. Every send to a stopped number after that is one the check should have stopped.
        let reachedAtCommit = receiver.requests().count
        let summary = try await pass.value
        let requests = receiver.requests()
        let late = requests.filter { $0.n > reachedAtCommit + concurrency }.compactMap { Self.recipient($0.body) }.filter { stopped.contains($0) }
        #expect(late.isEmpty, "sent after the STOP was committed: \(late)")
        #expect(summary.claimed == 1_000 && summary.accepted == requests.count)
        #expect(summary.failed >= 1_000 - reachedAtCommit - concurrency, "the rest are refused as opted out")
        await harness.close()
    }

    static func recipient(_ body: String) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["to"] as? String
    }

    @Test("An urgent alert that dead-letters goes to the team's escalation address at once and is counted in rom_alerts_undeliverable_total")
    func deadLetteredAlert() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, teams: """
              default:
                alert: { gateway: test-sms, to: "+447700900999" }
                escalate: { to: "+447700900888", after: 30m }
            """)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let raised = ISO8601DateFormatter().date(from: "2026-11-02T10:00:00Z")!
        harness.clock.set(raised)
        let phq9 = try #require(try await harness.env.store.openPrompts(personID: "p1", now: raised).first { $0.instrument == "phq9" })
        let answer = try await ReplyPipeline(env: harness.env).answer([0, 0, 0, 0, 0, 0, 0, 0, 2], instrument: "phq9", placement: .onTime(phq9),
                                                                      personID: "p1", source: "api").get()
        #expect(try await harness.env.store.submitResponse(source: "api", eventID: "e1", personID: "p1", rawBody: [], contentType: "application/json",
                                                           answer: answer, now: raised))
        // The provider refuses the duty number for good (400): the alert dead-letters on its first attempt.
        try receiver.setMode("refuse:+447700900999")
        _ = try await BackgroundServices.dispatchTick(harness.env)
        _ = try await BackgroundServices.dispatchTick(harness.env)
        let recipients = receiver.requests().compactMap { Self.recipient($0.body) }
        #expect(recipients.contains("+447700900999"), "the alert was tried")
        #expect(recipients.filter { $0 == "+447700900888" }.count == 1, "the escalation number hears at once, once: \(recipients)")
        #expect(harness.clock.now == raised, "no waiting for the 30 minutes")
        var buffer: [UInt8] = []
        harness.env.metrics.emit(into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self).contains("rom_alerts_undeliverable_total 1"))
        await harness.close()
    }
}
