import Crypto
import Delivery
import Foundation
import Intake
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// The dispatcher against a real HTTP receiver on 127.0.0.1.
@Suite("Webhook dispatch against a loopback receiver", .serialized)
struct WebhookDispatchTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!

    @Test("One signed, authenticated, idempotent request per check-in; the provider's id is read; prompts become sent")
    func accepted() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        let summary = try await harness.worker().runOnce()
        #expect(summary.claimed == 1, "the three baseline prompts go out as one message")
        #expect(summary.accepted == 1)
        let requests = receiver.requests()
        try #require(requests.count == 1)
        let request = requests[0]
        let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: String])
        #expect(body["to"] == "+447700900001")
        #expect(body["text"]?.contains("Ana") == true)
        #expect(body["text"]?.contains("/c/") == true)
        // The link's token is random letters and digits (it spelled "gad" once); the words that could reveal care are
        // looked for in what a person reads around it.
        let words = (body["text"] ?? "").replacingOccurrences(of: #"https?://\S+"#, with: "<link>", options: .regularExpression).lowercased()
        #expect(words.contains("<link>"))
        for word in TemplateCheck.denied { #expect(!words.contains(word), "the message contains `\(word)`") }
        #expect(request.headers["authorization"] == "Bearer token-123")
        let key = try #require(body["reference"])
        #expect(request.headers["idempotency-key"] == "\"\(key)\"")
        #expect(request.headers["webhook-id"] == key)
        #expect(throws: Never.self) {
            try StandardWebhooks.verify(body: Array(request.body.utf8), id: request.headers["webhook-id"], timestamp: request.headers["webhook-timestamp"],
                                        signature: request.headers["webhook-signature"], keys: [StandardWebhooks.key(from: Harness.signingSecret)!],
                                        now: Int64(sendTime.timeIntervalSince1970))
        }
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.status == "accepted" })
        let counts = try await harness.env.store.schedulingCounts()
        #expect(counts.prompts["sent"] == 3)
        #expect(try await harness.worker().runOnce().claimed == 0)
        let provider = try await harness.env.store.read { db in
            try await db.raw("SELECT DISTINCT provider_message_id FROM outbox_messages").all().map { try $0.decode(column: "provider_message_id", as: String.self) }
        }
        #expect(provider == ["msg-1"])
        await harness.close()
    }

    @Test("Retry schedule under an injected clock: 429 waits its Retry-After, 503 backs off exponentially, 400 fails and falls back to email")
    func retrySchedule() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,ana@example.org,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        let worker = harness.worker(policy: RetryPolicy(base: 30, multiplier: 4, cap: 3_600, jitter: 0.2, maxAttempts: 8))
        try receiver.setMode("429")
        #expect(try await worker.runOnce().retried == 1)
        var rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.status == "queued" && $0.due == Int64(sendTime.timeIntervalSince1970 + 7) * 1000 }, "Retry-After: 7 is honoured")
        try receiver.setMode("503")
        harness.clock.advance(by: 7)
        #expect(try await worker.runOnce().retried == 1)
        rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.attempt == 2 && $0.due == Int64(sendTime.timeIntervalSince1970 + 7 + 120) * 1000 }, "attempt 2 waits 30 s × 4")
        harness.clock.advance(by: 119)
        #expect(try await worker.runOnce().claimed == 0, "nothing is sent before its retry time")
        harness.clock.advance(by: 1)
        try receiver.setMode("400")
        #expect(try await worker.runOnce().failed == 1)
        rows = try await harness.env.store.outboxRows()
        #expect(rows.filter { $0.channel == "sms" }.allSatisfy { $0.status == "failed" && $0.error == "HTTP 400" })
        let fallback = rows.filter { $0.channel == "email" && $0.status == "queued" }
        #expect(fallback.count == 1 && fallback.first?.key == "\(rows[0].key)@email", "a permanent failure tries the pathway's next channel, as one message")
        let history = try await harness.env.store.transitions(messageID: rows[0].id)
        #expect(history == ["- → queued", "queued → sending", "sending → queued", "queued → sending", "sending → queued", "queued → sending", "sending → failed"])
        #expect(receiver.requests().count == 3)
        #expect(Set(receiver.requests().map { $0.headers["idempotency-key"] ?? "" }).count == 1, "one idempotency key across every retry")
        await harness.close()
    }

    @Test("A connection reset before the answer, or an answer cut off mid-body, is \"maybe sent\": retried under the same key, never dropped (R9)")
    func ambiguousOutcome() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        let worker = harness.worker(policy: RetryPolicy(base: 30, multiplier: 2, cap: 600, jitter: 0, maxAttempts: 5))
        for mode in ["reset", "cut"] {
            try receiver.setMode(mode)
            let summary = try await worker.runOnce()
            #expect(summary.retried == 1 && summary.failed == 0 && summary.accepted == 0, "\(mode)")
            let rows = try await harness.env.store.outboxRows()
            #expect(rows.allSatisfy { $0.status == "queued" && $0.error?.hasPrefix("network: curl ") == true }, "\(mode): \(rows.map(\.error))")
            harness.clock.advance(by: 600)
        }
        try receiver.setMode("ok")
        #expect(try await worker.runOnce().accepted == 1)
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "accepted" && $0.attempt == 3 })
        let requests = receiver.requests()
        #expect(requests.map(\.mode) == ["reset", "cut", "ok"])
        #expect(Set(requests.map { $0.headers["idempotency-key"] ?? "" }).count == 1, "every copy carries the message's one key")
        await harness.close()
    }

    @Test("The claim is committed before the network call and no lock is held during it: another connection sees `sending` while the provider hangs (R4)")
    func claimCommittedBeforeSend() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, timeout: "3s")
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        try receiver.setMode("hang")
        let worker = harness.worker()
        let pass = Task { try await worker.runOnce() }
        for _ in 0..<100 where receiver.requests().isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        try #require(receiver.requests().count == 1, "the send is in flight")
        // A second connection to the same file, as another process would have.
        let other = try await SQLStore.open(url: harness.databaseURL, logger: Logger(label: "test"))
        let seen = try await other.outboxRows()
        try await other.close()
        #expect(seen.count == 1 && seen.allSatisfy { $0.status == "sending" && $0.attempt == 1 }, "\(seen.map(\.status))")
        #expect(receiver.requests().count == 1, "no second attempt while we read")
        let summary = try await pass.value
        #expect(summary.retried == 1, "the hung send timed out and waits for a retry")
        await harness.close()
    }

    @Test("A paused worker's late outcome is fenced off: after its lease another pass sends, and the late write changes nothing (R6)")
    func fencing() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        // Worker A claims, then stalls (SIGSTOP, a long GC pause) past its 60 s lease.
        let paused = try await harness.env.store.claimDue(now: sendTime, limit: 100, lease: 60)
        try #require(paused.count == 1)
        harness.clock.set(sendTime.addingTimeInterval(61))
        let summary = try await harness.worker().runOnce()
        #expect(summary.claimed == 1 && summary.accepted == 1, "the expired claim is taken over and sent")
        // A wakes up and reports a failure for its attempt.
        let held = try await harness.env.store.record([(.failed(reason: "late"), paused[0])], now: sendTime.addingTimeInterval(62))
        #expect(held == [false])
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.status == "accepted" && $0.attempt == 2 && $0.error == nil })
        let history = try await harness.env.store.transitions(messageID: rows[0].id)
        #expect(!history.contains { $0.contains("failed") })
        #expect(receiver.requests().count == 1)
        await harness.close()
    }

    @Test("With a provider refusing half the sends at random, each message keeps one key over all its retries, no two share one, and each is taken once (R3)",
          arguments: [1, 2, 3])
    func keysUnderRandomRetries(seed: Int) async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        let people = (10...21).map { "p\($0),Ana,+4477009000\($0),,,community,2026-11-02,,north" }
        try await harness.seed(people.joined(separator: "\n"))
        harness.clock.set(sendTime)
        try receiver.setMode("flaky:\(seed)")
        let worker = harness.worker(policy: RetryPolicy(base: 1, multiplier: 1, cap: 1, jitter: 0, maxAttempts: 30))
        for _ in 0..<30 where try await harness.env.store.outboxRows().contains(where: { $0.status != "accepted" }) {
            _ = try await worker.runOnce()
            harness.clock.advance(by: 1)
        }
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "accepted" })
        var keys: [String: Set<String>] = [:]
        var taken: [String: Int] = [:]
        for request in receiver.requests() {
            let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: String])
            let key = try #require(request.headers["idempotency-key"])
            #expect(key == "\"\(body["reference"] ?? "")\"")
            keys[body["to"] ?? "", default: []].insert(key)
            if request.mode == "ok" { taken[key, default: 0] += 1 }
        }
        #expect(receiver.requests().count > 12, "some sends were refused and retried")
        #expect(keys.count == 12 && keys.values.allSatisfy { $0.count == 1 }, "one key per message across its retries")
        #expect(Set(keys.values.flatMap { $0 }).count == 12, "no two messages share a key")
        #expect(taken.count == 12 && taken.values.allSatisfy { $0 == 1 }, "each message taken exactly once")
        await harness.close()
    }

    @Test("R9 sustained: 30 % of connections reset or cut mid-answer through a whole drain (300 check-ins here, 10,000 in scripts/faults): every check-in delivered, every copy under its message's one key, taken once with a full answer")
    func sustainedResetsAndCuts() async throws {
        let count = Fixtures.faultScale(ci: 300, full: 10_000)
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed((0..<count).map { String(format: "p%05d,Ana,+44770%07d,,,community,2026-11-02,,north", $0, $0) }.joined(separator: "\n"))
        harness.clock.set(sendTime)
        try receiver.setMode("faults:30:9")
        try await harness.drainRetryingEverySecond()
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.count == count && rows.allSatisfy { $0.status == "accepted" }, "every check-in delivered")
        var modes: [String: [String]] = [:]
        for request in receiver.requests() { modes[request.headers["webhook-id"] ?? "", default: []].append(request.mode) }
        #expect(modes.count == count && Set(modes.keys).isSubset(of: Set(rows.map(\.key))), "one key per check-in, each a message's own")
        #expect(modes.values.allSatisfy { $0.filter { $0 == "ok" }.count == 1 && $0.last == "ok" }, "each taken once with a full answer, and nothing sent after it")
        let faults = modes.values.map { $0.count - 1 }.reduce(0, +)
        let requests = modes.values.map(\.count).reduce(0, +)
        #expect(Double(faults) / Double(requests) > 0.2, "the faults were injected: \(faults) of \(requests)")
        let cut = modes.values.flatMap { $0 }.filter { $0 == "cut" }.count
        print("R9 figures: \(count) check-ins, \(requests) requests, \(faults) of them reset or cut after the provider had read them (\(cut) cut mid-answer), each a possible duplicate under the message's one key: \(String(format: "%.1f", 100 * Double(faults) / Double(count))) per 100 check-ins; 0 lost, 0 under a second key")
        await harness.close()
    }

    @Test("Retries stop at the cap and dead-letter with the reason")
    func deadLetter() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        try receiver.setMode("503")
        let worker = harness.worker(policy: RetryPolicy(base: 1, multiplier: 2, cap: 10, jitter: 0, maxAttempts: 3))
        for _ in 0..<3 {
            _ = try await worker.runOnce()
            harness.clock.advance(by: 10)
        }
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.status == "failed" && $0.error == "gave up after 3 attempts: HTTP 503" })
        #expect(receiver.requests().count == 3)
        await harness.close()
    }

    @Test("A hung receiver is cut off by the timeout and retried later")
    func hungPeer() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, timeout: "1s")
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        try receiver.setMode("hang")
        let started = ContinuousClock.now
        let summary = try await harness.worker().runOnce()
        let elapsed = ContinuousClock.now - started
        #expect(summary.retried == 1)
        #expect(elapsed < .seconds(5), "a 1 s timeout bounded the send; took \(elapsed)")
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.error == "timeout" })
        await harness.close()
    }

    @Test("Sequential sends reuse one connection (CURLINFO_NUM_CONNECTS)")
    func connectionReuse() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed((1...8).map { "p\($0),Ana,+44770090000\($0),,,community,2026-11-02,,north" }.joined(separator: "\n"))
        harness.clock.set(sendTime)
        let summary = try await harness.worker(concurrency: 1).runOnce()
        #expect(summary.accepted == 8)
        #expect(receiver.requests().count == 8)
        #expect(harness.env.curl?.connectionsOpened == 1)
        await harness.close()
    }

    @Test("Opt-out is checked just before sending: nothing reaches the provider")
    func optOutAtSendTime() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        try await harness.env.store.recordConsent(personID: "p1", channel: "sms", optedIn: false, source: "test", inboundReplyID: nil, now: sendTime)
        harness.clock.set(sendTime)
        #expect(try await harness.worker().runOnce().failed == 1)
        #expect(receiver.requests().isEmpty)
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "failed" && $0.error == "opted out of sms" })
        await harness.close()
    }

    @Test("A prompt past closing is expired, never sent late; erased contacts are never sent to")
    func expiredAndErased() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-03,,north\np2,Ben,+447700900002,,,community,2026-11-02,,north")
        try await harness.env.store.eraseContact(personID: "p2", now: sendTime)
        harness.clock.set(sendTime)
        let erased = try await harness.worker().runOnce()
        #expect(erased.failed == 1, "the erased person's message fails")
        #expect(erased.claimed == 1, "p1's check-in is not due yet")
        // p1's baseline was due 3 November at 09:00; the dispatcher only wakes after it closed.
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-17T00:00:00Z")!)
        let late = try await harness.worker().runOnce()
        #expect(late.expired == 1)
        #expect(late.accepted == 0)
        #expect(receiver.requests().isEmpty)
        await harness.close()
    }

    @Test("Delivery receipts need the provider's signature (Twilio-style here); signed ones move a status forward only: a late `sent` or `failed` after `delivered` changes nothing")
    func receipts() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        _ = try await harness.worker().runOnce()
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            // Unsigned, or signed with someone else's token: refused, nothing changes.
            for signature in [nil, TwilioSignature.expected(url: "http://127.0.0.1:8080/callbacks/status/test-sms",
                                                            parameters: [("MessageSid", "msg-1"), ("MessageStatus", "failed")], authToken: "not-ours")] {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                if let signature { headers[HTTPField.Name("X-Twilio-Signature")!] = signature }
                let refused = try await client.execute(uri: "/callbacks/status/test-sms", method: .post, headers: headers,
                                                       body: ByteBuffer(string: "MessageSid=msg-1&MessageStatus=failed"))
                #expect(refused.status == .unauthorized)
            }
            #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "accepted" }, "a refused receipt changes nothing")
            for status in ["delivered", "sent", "failed", "queued"] {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                headers[HTTPField.Name("X-Twilio-Signature")!] = TwilioSignature.expected(url: "http://127.0.0.1:8080/callbacks/status/test-sms",
                                                                                          parameters: [("MessageSid", "msg-1"), ("MessageStatus", status)], authToken: "12345")
                let response = try await client.execute(uri: "/callbacks/status/test-sms", method: .post, headers: headers,
                                                        body: ByteBuffer(string: "MessageSid=msg-1&MessageStatus=\(status)"))
                #expect(response.status == .ok)
            }
        }
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "delivered" })
        await harness.close()
    }

    @Test("Accepted with no receipt for 48 hours becomes unknown (R18); a late receipt still moves it on")
    func noReceiptBecomesUnknown() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        #expect(try await harness.worker().runOnce().accepted == 1)
        harness.clock.set(sendTime.addingTimeInterval(47 * 3_600))
        #expect(try await BackgroundServices.markUndelivered(harness.env) == 0)
        harness.clock.set(sendTime.addingTimeInterval(48 * 3_600 + 1))
        // One SMS carried the three baseline prompts: one outbox row, and all three prompts show it.
        #expect(try await BackgroundServices.markUndelivered(harness.env) == 1)
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.map(\.status) == ["unknown"])
        #expect(try await harness.env.store.schedulingCounts().prompts["sent"] == 3)
        #expect(try await promptDelivery(harness) == ["unknown", "unknown", "unknown"])
        #expect(try await harness.env.store.transitions(messageID: rows[0].id).last == "accepted → unknown")
        #expect(try await BackgroundServices.markUndelivered(harness.env) == 0, "once")
        #expect(try await harness.env.store.applyReceipt(gateway: "test-sms", providerMessageID: "msg-1", status: "delivered", detail: nil, now: harness.clock.now) == 1)
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "delivered" })
        #expect(try await promptDelivery(harness) == ["delivered", "delivered", "delivered"])
        await harness.close()
    }
}

@Suite("Daily cap", .serialized)
struct DailyCapTests {
    @Test("A person gets at most daily_cap messages in 24 hours, even when more are due in one batch; the rest wait without using an attempt")
    func capWithinBatch() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        // Twelve extra reminder rows for the same person, all due now: with the check-in, 13 messages.
        try await harness.env.store.transaction { db in
            let prompt = try await db.raw("SELECT id FROM prompts LIMIT 1").first()!.decode(column: "id", as: String.self)
            for index in 0..<12 {
                try await db.raw("""
                    INSERT INTO outbox_messages (id, person_id, purpose, channel, gateway, status, attempt, due_at_ms, idempotency_key, payload, created_at_ms, updated_at_ms)
                    VALUES (\(bind: "ob_extra\(index)"), 'p1', \(bind: "reminder-\(index)"), 'sms', 'test-sms', 'queued', 0, \(bind: Int64(sendTime.timeIntervalSince1970) * 1000), \(bind: "k\(index)"), '{}', 0, 0)
                    """).run()
                try await db.raw("INSERT INTO outbox_prompts (message_id, prompt_id) VALUES (\(bind: "ob_extra\(index)"), \(bind: prompt))").run()
            }
        }
        harness.clock.set(sendTime)
        let summary = try await harness.worker().runOnce()
        #expect(summary.accepted == 10, "daily_cap is 10 in the shipped rom.yaml")
        #expect(summary.retried == 3)
        #expect(receiver.requests().count == 10)
        let waiting = try await harness.env.store.outboxRows().filter { $0.status == "queued" }
        #expect(waiting.allSatisfy { $0.attempt == 0 && $0.error?.contains("daily cap") == true })
        await harness.close()
    }

    /// Twelve one-row reminders for p1 besides the three-prompt check-in: 13 messages, all due by `sendTime`. The
    /// reminders are due a millisecond apart, so small batches split them (a batch keeps a person's rows of one
    /// due time together).
    func seedThirteen(_ harness: Harness, sendTime: Date) async throws {
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        try await harness.env.store.transaction { db in
            let prompt = try await db.raw("SELECT id FROM prompts LIMIT 1").first()!.decode(column: "id", as: String.self)
            for index in 0..<12 {
                try await db.raw("""
                    INSERT INTO outbox_messages (id, person_id, purpose, channel, gateway, status, attempt, due_at_ms, idempotency_key, payload, created_at_ms, updated_at_ms)
                    VALUES (\(bind: "ob_extra\(index)"), 'p1', \(bind: "reminder-\(index)"), 'sms', 'test-sms', 'queued', 0, \(bind: sendTime.millis - 12 + Int64(index)), \(bind: "k\(index)"), '{}', 0, 0)
                    """).run()
                try await db.raw("INSERT INTO outbox_prompts (message_id, prompt_id) VALUES (\(bind: "ob_extra\(index)"), \(bind: prompt))").run()
            }
        }
        harness.clock.set(sendTime)
    }

    @Test("Messages another live claim is sending count against the cap, so overlapping claims see each other; once recorded they count as sent, never twice")
    func inFlightCounts() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        try await seedThirteen(harness, sendTime: sendTime)
        let store = harness.env.store
        // Messages sort by due time, so the first claim takes four of the 13 and the second the rest.
        let first = try await store.claimDue(now: sendTime, limit: 4, lease: 60)
        let second = try await store.claimDue(now: sendTime, limit: 100, lease: 60)
        #expect(first.count == 4 && second.count == 9)
        #expect((first + second).filter { $0.promptIDs.count == 3 }.count == 1, "the three-prompt check-in is one message")
        #expect(try await store.deliveryContexts(for: second, now: sendTime).allSatisfy { $0?.sentToday == first.count })
        #expect(try await store.deliveryContexts(for: first, now: sendTime).allSatisfy { $0?.sentToday == second.count })
        // The first claim is recorded as accepted (one provider id per message): same count, now from accepted rows.
        let accepted = first.enumerated().map { (SendResult.accepted(providerMessageID: "pm-\($0.offset)"), $0.element) }
        #expect(try await store.record(accepted, now: sendTime) == Array(repeating: true, count: first.count))
        #expect(try await store.deliveryContexts(for: second, now: sendTime).allSatisfy { $0?.sentToday == first.count })
        // Once the second claim's lease has expired its rows no longer count (that claim is dead; they will be
        // claimed again): only the accepted messages do.
        let later = sendTime.addingTimeInterval(61)
        #expect(try await store.deliveryContexts(for: first, now: later).allSatisfy { $0?.sentToday == first.count })
        #expect(try await store.deliveryContexts(for: first, now: sendTime).allSatisfy { $0?.sentToday == first.count + second.count })
        await harness.close()
    }

    @Test("A message held by the cap waits until a place frees: a lease when others' sends fill it, the oldest send's 24 hours when accepted ones do")
    func capHoldLength() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        try await seedThirteen(harness, sendTime: sendTime)
        // Another claim holds ten one-row reminders and has not reported yet.
        let other = try await harness.env.store.claimDue(now: sendTime, limit: 10, lease: 60)
        try #require(other.count == 10)
        let worker = harness.worker()
        let held = try await worker.runOnce()
        #expect(held.claimed == 3 && held.retried == 3 && held.accepted == 0)
        var waiting = try await harness.env.store.outboxRows().filter { $0.status == "queued" }
        #expect(waiting.count == 3 && waiting.allSatisfy { $0.due == sendTime.addingTimeInterval(60).millis }, "the other claim's outcome is known within its 60 s lease")
        // The other claim's sends are all accepted: now the cap is full of sent messages, the oldest sent at 09:00.
        let accepted = other.enumerated().map { (SendResult.accepted(providerMessageID: "pm-\($0.offset)"), $0.element) }
        _ = try await harness.env.store.record(accepted, now: sendTime)
        harness.clock.set(sendTime.addingTimeInterval(60))
        #expect(try await worker.runOnce().retried == 3)
        waiting = try await harness.env.store.outboxRows().filter { $0.status == "queued" }
        #expect(waiting.allSatisfy { $0.due == sendTime.addingTimeInterval(86_400).millis }, "held until 09:00 tomorrow, not re-checked hourly")
        harness.clock.set(sendTime.addingTimeInterval(86_400))
        #expect(try await worker.runOnce().accepted == 3)
        #expect(receiver.requests().count == 3)
        await harness.close()
    }

    @Test("A three-prompt check-in is one outbox row: a claim of two takes two people's whole check-ins")
    func batchKeepsMessagesWhole() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,+447700900002,,,community,2026-11-02,,north")
        let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        #expect(try await harness.env.store.outboxRows().count == 2, "one row per check-in message")
        let first = try await harness.env.store.claimDue(now: sendTime, limit: 2, lease: 60)
        #expect(first.count == 2 && Set(first.map(\.personID)) == ["p1", "p2"])
        #expect(first.allSatisfy { $0.promptIDs.count == 3 && Set($0.promptIDs).count == 3 })
        #expect(try await harness.env.store.claimDue(now: sendTime, limit: 2, lease: 60).isEmpty)
        await harness.close()
    }

    @Test("A message another transaction holds is skipped by a claim and goes whole, with its three prompts, at a later one (R5)",
          .enabled(if: Fixtures.onPostgres, "PostgreSQL only: SQLite runs one transaction at a time"))
    func lockedRowKeepsMessageWhole() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,+447700900002,,,community,2026-11-02,,north")
        let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        let store = harness.env.store
        let locked = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        // Another session row-locks p1's check-in message and keeps its transaction open.
        let holder = Task {
            try await store.transaction(isolation: .readCommitted) { db in
                _ = try await db.raw("SELECT id FROM outbox_messages WHERE person_id = 'p1' ORDER BY id LIMIT 1 FOR UPDATE").all()
                locked.continuation.yield()
                for await _ in release.stream { break }
            }
        }
        for await _ in locked.stream { break }
        let first = try await store.claimDue(now: sendTime, limit: 10, lease: 60)
        #expect(first.map(\.personID) == ["p2"] && first.first?.promptIDs.count == 3, "p1's message waits; p2's goes: \(first.map { ($0.personID, $0.promptIDs.count) })")
        release.continuation.yield()
        try await holder.value
        let second = try await store.claimDue(now: sendTime, limit: 10, lease: 60)
        #expect(second.map(\.personID) == ["p1"] && second.first?.promptIDs.count == 3, "then p1's three prompts go as one message")
        let queued = try await store.outboxRows().filter { $0.status == "queued" }
        #expect(queued.isEmpty)
        await harness.close()
    }

    @Test("Two passes side by side with small batches still send a person at most daily_cap messages", arguments: 1...5)
    func capAcrossPasses(round: Int) async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await seedThirteen(harness, sendTime: ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        let env = harness.env
        let clock = harness.clock
        // Batches of two rows, so the passes interleave claims, sends and records many times.
        let worker = OutboxWorker(store: env.store, gateways: env.gateways, composer: env.composer, pathways: env.configuration.pathways, links: env.links,
                                  lease: 60, dailyCap: env.configuration.settings.dailyCap, batch: 2, concurrency: 4,
                                  clock: { clock.now }, jitter: { 0.5 }, logger: env.logger)
        let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    var accepted = 0
                    while true {
                        let summary = try await worker.runOnce()
                        accepted += summary.accepted
                        if summary.claimed == 0 { return accepted }
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        // Never more than the cap. Two claims that each read while the other is in flight both hold back, so a
        // message can wait an hour it need not have: the safe side. Nothing is lost either way.
        #expect(accepted <= 10 && accepted >= 8)
        #expect(receiver.requests().count == accepted)
        let rows = try await env.store.outboxRows()
        let waiting = rows.filter { $0.status == "queued" }
        #expect(waiting.allSatisfy { $0.error?.contains("daily cap") == true && $0.due > clock.now.millis && $0.attempt == 0 })
        #expect(rows.filter { $0.status == "accepted" }.count + waiting.count == 13)
        await harness.close()
    }
}

/// Quiet hours at send time: the shipped pathways send between 09:00 and 19:00 in the person's own time zone
/// (Europe/London by default, GMT in November). Expected instants are worked out by hand from that rule.
@Suite("Send window", .serialized)
struct SendWindowTests {
    func instant(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test("A retry that falls after 19:00 waits for 09:00 the next morning, without using an attempt, and goes then under the same key")
    func retryDefersToMorning() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(instant("2026-11-02T18:58:00Z"))
        try receiver.setMode("503")
        let worker = harness.worker(policy: RetryPolicy(base: 120, multiplier: 2, cap: 3_600, jitter: 0, maxAttempts: 5))
        #expect(try await worker.runOnce().retried == 1)
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.due == instant("2026-11-02T19:00:00Z").millis }, "503 at 18:58 + 120 s")
        try receiver.setMode("200")
        harness.clock.set(instant("2026-11-02T19:00:00Z"))
        let night = try await worker.runOnce()
        #expect(night.claimed == 1 && night.retried == 1 && night.accepted == 0)
        #expect(receiver.requests().count == 1, "nothing crosses at 19:00: the window is 09:00 up to 19:00")
        var rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.status == "queued" && $0.attempt == 1 && $0.due == instant("2026-11-03T09:00:00Z").millis })
        #expect(rows.allSatisfy { $0.error?.contains("send window") == true })
        harness.clock.set(instant("2026-11-03T08:59:59Z"))
        #expect(try await worker.runOnce().claimed == 0)
        harness.clock.set(instant("2026-11-03T09:00:00Z"))
        #expect(try await worker.runOnce().accepted == 1)
        rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.status == "accepted" && $0.attempt == 2 })
        let keys = receiver.requests().map { $0.headers["idempotency-key"] ?? "" }
        #expect(keys.count == 2 && Set(keys).count == 1)
        await harness.close()
    }

    @Test("A dispatcher that starts at 03:00 sends nothing to people until their window opens, in each person's own zone")
    func ownZone() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,+12125550100,,America/New_York,community,2026-11-02,,north")
        // The scheduler already plans Ben's baseline for 09:00 in New York (EST, UTC-5): 14:00 UTC.
        let planned = try await harness.env.store.outboxRows().filter { $0.status == "queued" }
        #expect(Set(planned.map(\.due)) == [instant("2026-11-02T09:00:00Z").millis, instant("2026-11-02T14:00:00Z").millis])
        // The service was down all day and comes back at 03:00 the next night: both check-ins are overdue.
        harness.clock.set(instant("2026-11-03T03:00:00Z"))
        let night = try await harness.worker().runOnce()
        #expect(night.claimed == 2 && night.accepted == 0 && night.retried == 2)
        #expect(receiver.requests().isEmpty)
        let deferred = try await harness.env.store.read { db in
            try await db.raw("SELECT DISTINCT person_id, due_at_ms FROM outbox_messages ORDER BY person_id").all()
                .map { "\(try $0.decode(column: "person_id", as: String.self)) \(try $0.decode(column: "due_at_ms", as: Int64.self))" }
        }
        #expect(deferred == ["p1 \(instant("2026-11-03T09:00:00Z").millis)", "p2 \(instant("2026-11-03T14:00:00Z").millis)"])
        // 12:00 UTC is inside London's window and 07:00 in New York.
        harness.clock.set(instant("2026-11-03T12:00:00Z"))
        #expect(try await harness.worker().runOnce().accepted == 1)
        #expect(receiver.requests().map { $0.body.contains("+447700900001") } == [true])
        harness.clock.set(instant("2026-11-03T14:00:00Z"))
        #expect(try await harness.worker().runOnce().accepted == 1)
        #expect(receiver.requests().count == 2 && receiver.requests()[1].body.contains("+12125550100"))
        await harness.close()
    }
}

@Suite("Dispatch metrics", .serialized)
struct DispatchMetricsTests {
    @Test("/metrics counts messages per gateway and outcome, and shows how many due rows wait and for how long")
    func metrics() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,+447700900002,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        try await harness.seed("p3,Cy,+447700900003,,,community,2026-11-02,,north")
        // Before any dispatch: three check-ins (a message each) are due, the oldest since 09:00.
        let before = try await harness.env.store.outboxBacklog(now: sendTime.addingTimeInterval(600))
        #expect(before.rows == 3 && before.oldestDue == sendTime)
        try receiver.setMode("ok")
        let first = try await BackgroundServices.dispatchTick(harness.env)
        #expect(first.accepted == 3)
        try receiver.setMode("503")
        try await harness.seed("p4,Di,+447700900004,,,community,2026-11-02,,north")
        _ = try await BackgroundServices.dispatchTick(harness.env)
        var buffer: [UInt8] = []
        harness.env.metrics.emit(into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#"rom_dispatch_messages_total{gateway="test-sms",outcome="accepted"} 3"#), "\(text)")
        #expect(text.contains(#"rom_dispatch_messages_total{gateway="test-sms",outcome="retried"} 1"#))
        #expect(text.contains("rom_outbox_due_rows 0"), "the retried message is due later, not waiting now")
        #expect(text.contains("rom_outbox_oldest_due_age_seconds 0"))
        #expect(!text.contains("p1") && !text.contains("+4477"), "no personal data in labels")
        await harness.close()
    }
}

/// Each prompt's delivery as reports read it (`prompts.delivery`), in instrument order.
private func promptDelivery(_ harness: Harness) async throws -> [String?] {
    try await harness.env.store.read { db in
        try await db.raw("SELECT delivery FROM prompts ORDER BY instrument").all().map { try $0.decode(column: "delivery", as: String?.self) }
    }
}
