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

/// Retention applies `retention:` to operational data and never touches clinical records.
@Suite("Retention", .serialized)
struct RetentionTests {
    func count(_ env: ServiceEnvironment, _ sql: String) async throws -> Int {
        try await env.store.read { db in try await db.raw(SQLQueryString(stringLiteral: sql)).first()?.decode(column: "n", as: Int.self) ?? -1 }
    }

    @Test("After the retention periods, processed reply bodies, finished messages' payloads, sandbox messages, drafts and expired link tokens go; an unread inbox reply and every clinical record stay; a dry run changes nothing")
    func purge() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let link = try await harness.sendBaseline()
        let env = harness.env
        let prompts = try await env.store.openPrompts(personID: "p1", now: harness.clock.now)
        let form = prompts.flatMap { prompt in
            (prompt.instrument == "phq9" ? [1, 1, 1, 1, 1, 1, 1, 1, 1] : prompt.instrument == "gad7" ? [1, 1, 1, 1, 1, 1, 1] : [5, 5]).enumerated()
                .map { "a.\(prompt.id).\($0.offset + 1)=\($0.element)" }
        }.joined(separator: "&") + "&action=send"
        // A risk phrase from an unknown sender waits, unread, in the inbox.
        let unread = try #require(try await env.store.receiveSMS(gateway: "sandbox-sms", eventID: "SM-unknown", from: "+447700900999",
                                                                 rawBody: Array("Body=help".utf8), contentType: "application/x-www-form-urlencoded", optIn: nil, now: harness.clock.now))
        try await ReplyPipeline(env: env).processText("help", reply: unread, channel: "sms", gateway: "sandbox-sms", keywordRecorded: false, now: harness.clock.now)
        try await Application(router: Routes.router(env)).test(.router) { client in
            let sent = try await client.execute(uri: "/c/\(link)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form))
            #expect(sent.status == .ok)
        }
        let clinical = ["responses", "scores", "flags", "prompts", "audit_events", "reviews"]
        var before: [String: Int] = [:]
        for table in clinical { before[table] = try await count(env, "SELECT COUNT(*) AS n FROM \(table)") }
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM sandbox_messages") > 0)
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM checkin_tokens") > 0)

        // 100 days on: past 90 days for bodies and payloads, and the baseline link expired more than 30 days before.
        let later = harness.clock.now.addingTimeInterval(100 * 86_400)
        let cutoffs = env.configuration.settings.retention.cutoffs(now: later)
        let planned = try await env.store.purge(cutoffs, dryRun: true, now: later)
        #expect(planned["raw reply bodies"] == 1, "the form submission; the unread inbox reply is kept")
        #expect((planned["outbox payloads and error text"] ?? 0) > 0 && (planned["expired link tokens"] ?? 0) > 0 && (planned["sandbox messages"] ?? 0) > 0)
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM sandbox_messages") > 0, "a dry run changes nothing")

        let done = try await env.store.purge(cutoffs, dryRun: false, now: later)
        #expect(done == planned)
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM inbound_replies WHERE body_purged_at_ms IS NOT NULL") == 1)
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM inbound_replies WHERE status = 'quarantined' AND body_purged_at_ms IS NULL") == 1,
                "the unread inbox reply keeps its text until someone handles it")
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM outbox_messages WHERE status IN ('accepted', 'delivered') AND payload <> ''") == 0)
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM sandbox_messages") == 0)
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM checkin_tokens WHERE expires_at_ms < \(cutoffs.expiredTokens.timeIntervalSince1970 * 1000)") == 0)
        for table in clinical where table != "audit_events" {
            #expect(try await count(env, "SELECT COUNT(*) AS n FROM \(table)") == before[table], "\(table) is a clinical record: kept")
        }
        #expect(try await count(env, "SELECT COUNT(*) AS n FROM audit_events") == before["audit_events"]! + 1, "the purge itself is audited, nothing removed")
        #expect(try await env.store.purge(cutoffs, dryRun: false, now: later).values.allSatisfy { $0 == 0 }, "a second run finds nothing")
        await harness.close()
    }
}
