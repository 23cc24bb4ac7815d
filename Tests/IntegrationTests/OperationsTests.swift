import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// What ops see and do: the status of background jobs, the outbox and the inbox; retrying failed messages after a fix;
/// one scheduler at a time across instances.
@Suite("Operations", .serialized)
struct OperationsTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!

    @Test("A provider refusing sends shows as failed with its reason code on the status page and API; after the fix one retry sends the message under its first key; opted-out, unknown and unfailed messages are refused with a reason")
    func failedAndRetried() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Bo,+447700900002,,,community,2026-11-02,,north")
        try await harness.env.store.recordConsent(personID: "p2", channel: "sms", optedIn: false, source: "sms_keyword", inboundReplyID: nil, now: harness.clock.now)
        harness.clock.set(sendTime)
        try receiver.setMode("400")
        let first = try await harness.worker().runOnce()
        #expect(first.failed == 2, "\(first)")
        #expect(receiver.requests().count == 1, "the opted-out person's message never reaches the provider")
        let firstKey = try #require(receiver.requests().first?.headers["webhook-id"])
        let ops = try await harness.token(.ops)
        let clinician = try await harness.token(.clinician, team: "north")
        let cookie = try await harness.session(.ops, team: nil)

        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let (status, body) = try await Harness.json(client, .get, "/api/v1/ops/status", ops)
            #expect(status == .ok)
            let outbox = try #require(body["outbox"] as? [String: Any])
            let failed = try #require(outbox["failed"] as? [[String: Any]])
            #expect(failed.count == 2, "one entry per message, not per prompt")
            let refused = try #require(failed.first { $0["person_id"] as? String == "p1" })
            let optedOut = try #require(failed.first { $0["person_id"] as? String == "p2" })
            #expect(refused["reason"] as? String == "HTTP 400" && refused["rows"] as? Int == 1, "a reason code, never the provider's text: \(refused)")
            #expect((optedOut["reason"] as? String)?.hasPrefix("opted out") == true)
            let counts = try #require(outbox["counts"] as? [[String: Any]])
            #expect(counts.contains { $0["gateway"] as? String == "test-sms" && $0["status"] as? String == "failed" && $0["rows"] as? Int == 2 }, "two failed messages, an outbox row each")
            #expect(try await Harness.json(client, .get, "/api/v1/ops/status", clinician).0 == .forbidden)

            let page = try await client.execute(uri: "/ops/status", method: .get, headers: [.cookie: cookie])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            let refusedID = try #require(refused["id"] as? String)
            #expect(html.contains("Service status") && html.contains("HTTP 400") && html.contains("/ops/outbox/\(refusedID)/retry"))

            // The provider is fixed: retry the one that can go.
            try receiver.setMode("ok")
            let (notOurs, refusal) = try await Harness.json(client, .post, "/api/v1/outbox/\(try #require(optedOut["id"] as? String))/retry", ops)
            #expect(notOurs == .conflict && refusal["code"] as? String == "person_refused")
            #expect(try await Harness.json(client, .post, "/api/v1/outbox/ob_nothing/retry", ops).0 == .notFound)
            let (retried, queued) = try await Harness.json(client, .post, "/api/v1/outbox/\(try #require(refused["id"] as? String))/retry", ops)
            #expect(retried == .ok && queued["queued"] as? Int == 1, "the message, with its three prompts, goes again: \(queued)")
            let (again, notFailed) = try await Harness.json(client, .post, "/api/v1/outbox/\(try #require(refused["id"] as? String))/retry", ops)
            #expect(again == .conflict && notFailed["code"] as? String == "not_failed")
            #expect(try await Harness.json(client, .post, "/api/v1/outbox/retry-failed", ops, #"{"gateway": "nope"}"#).0 == .unprocessableContent)
        }
        let second = try await harness.worker().runOnce()
        #expect(second.accepted == 1 && second.claimed == 1, "\(second)")
        let requests = receiver.requests()
        #expect(requests.count == 2)
        #expect(requests.last?.headers["webhook-id"] == firstKey, "the retry carries the message's first key, so a provider that did act on it can tell")
        let audit = try await harness.env.store.auditEvents(limit: 20)
        #expect(audit.contains { $0.action == "outbox.retry" && $0.detail?.contains(": 1 outbox row") == true })
        await harness.close()
    }

    @Test("Retry all: every failed message on a gateway since a time goes again, except those that fell back to another channel or whose person refused")
    func retryAll() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Bo,+447700900002,bo@example.org,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        try receiver.setMode("400")
        _ = try await harness.worker().runOnce()
        let ops = try await harness.token(.ops)
        try receiver.setMode("ok")
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let (status, body) = try await Harness.json(client, .post, "/api/v1/outbox/retry-failed", ops, #"{"gateway": "test-sms"}"#)
            #expect(status == .ok)
            #expect(body["queued"] as? Int == 1, "Ana's message; Bo's went by email instead (fell back), so his SMS is left: \(body)")
        }
        let summary = try await harness.worker().runOnce()
        #expect(summary.accepted >= 1)
        #expect(receiver.requests().filter { $0.body.contains("+447700900002") }.count == 1, "Bo's SMS was not sent a second time")
        await harness.close()
    }

    @Test("One scheduler at a time across instances: a second store on the same database stands by while the first holds the lock, and takes over once the first is gone (its connection closed, as after kill -9); the holder's job still ends though its connection was dropped under it",
          .enabled(if: Fixtures.onPostgres, "needs PostgreSQL (scripts/test's second pass)"))
    func schedulerLock() async throws {
        let (first, _, url) = try await Fixtures.migratedStoreAndURL()
        let second = try await SQLStore.open(url: url, logger: .init(label: "test"))
        let holding = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await first.whileHolding(lock: "rom.scheduler") {
                holding.continuation.yield()
                for await _ in release.stream { break }
                return "done"
            }
        }
        for await _ in holding.stream { break }
        #expect(try await second.whileHolding(lock: "rom.scheduler") { "ran" } == nil, "the other instance stands by")
        #expect(try await second.whileHolding(lock: "rom.sweeper") { "ran" } == "ran", "another job's lock is its own")
        // The holder's process dies (kill -9): the server sees its connection close and drops the lock. Here the
        // server ends that connection itself, as it does for a peer that has gone.
        let terminated = try await second.read { db in
            try await db.raw("SELECT pg_terminate_backend(pid) AS done FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").all().count
        }
        #expect(terminated == 1, "one connection holds the scheduler's lock")
        var taken: String?
        for _ in 0..<50 where taken == nil {
            taken = try await second.whileHolding(lock: "rom.scheduler") { "ran" }
            if taken == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(taken == "ran", "taken over once the holder is gone")
        // The old holder's job ends: its unlock on the dropped connection gets no answer, and the connection is closed.
        release.continuation.yield()
        let ended = try? await holder.value
        #expect(ended == "done")
        try await second.close()
        try? await first.close()
    }
}
