import Delivery
import Foundation
import Intake
import ROMService
import ROMTesting
import Scheduling
import Storage
import Testing

/// The SMTP gateway against Debian's aiosmtpd on 127.0.0.1.
@Suite("SMTP dispatch against aiosmtpd", .serialized)
struct SMTPDispatchTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!

    /// aiosmtpd requiring STARTTLS, a harness whose email gateway trusts its certificate, Ana (email only) seeded and
    /// the clock at her check-in's send time.
    func seededOverStartTLS() async throws -> (SMTPServer, Harness) {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", certificate.cert))
        try await harness.seed("p1,Ana,,ana@example.org,,core,2026-11-02,,north")
        harness.clock.set(sendTime)
        return (server, harness)
    }

    @Test("With STARTTLS required: one MIME message with Date, a stable Message-ID and one-click unsubscribe, sent over TLS")
    func startTLS() async throws {
        let (server, harness) = try await seededOverStartTLS()
        defer { server.stop() }
        let summary = try await harness.worker().runOnce()
        #expect(summary.accepted == 1)
        let messages = server.messages()
        try #require(messages.count == 1)
        let message = messages[0]
        #expect(message.contains("Date: Mon, 02 Nov 2026 09:00:00 +0000"))
        #expect(message.contains("From: Check-in <checkin@example.org>"))
        #expect(message.contains("To: ana@example.org"))
        #expect(message.range(of: "Message-ID: <pr_[a-z0-9]+@example.org>", options: .regularExpression) != nil)
        #expect(message.contains("List-Unsubscribe: <http://127.0.0.1:8080/unsubscribe/"))
        #expect(message.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
        #expect(message.contains("multipart/alternative"))
        let log = try String(contentsOfFile: "\(server.maildir)/log", encoding: .utf8)
        #expect(log.contains("TLS True"))
        await harness.close()
    }

    @Test("A retried email keeps its Message-ID and Date-independent identity")
    func stableMessageID() async throws {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", certificate.cert))
        let gateway = try #require(harness.env.gateways["test-email"])
        let message = OutboundMessage(personID: "p1", channel: .email, recipient: "ana@example.org", subject: "Your check-in is ready",
                                      text: "Hi", html: "<p>Hi</p>", link: "http://x/c/1", idempotencyKey: "pr_fixed", unsubscribeURL: "https://x/u/1")
        _ = await gateway.send(message, now: sendTime)
        _ = await gateway.send(message, now: sendTime.addingTimeInterval(300))
        let ids = server.messages().compactMap { text in text.split(separator: "\r\n").first { $0.hasPrefix("Message-ID:") }.map(String.init) }
        #expect(ids == ["Message-ID: <pr_fixed@example.org>", "Message-ID: <pr_fixed@example.org>"])
        await harness.close()
    }

    @Test("A connection cut after the message's final dot is retried later as the very same message: same Message-ID, same Date, same bytes (R11)")
    func dropAfterDot() async throws {
        let (server, harness) = try await seededOverStartTLS()
        defer { server.stop() }
        try "drop\n".write(toFile: "\(server.maildir)/drop", atomically: true, encoding: .utf8)
        let worker = harness.worker(policy: RetryPolicy(base: 60, multiplier: 2, cap: 600, jitter: 0, maxAttempts: 5))
        let first = try await worker.runOnce()
        #expect(first.retried == 1 && first.accepted == 0, "no 250 reply: maybe sent, so retried")
        #expect(server.messages().count == 1, "the server had taken the message before the cut")
        harness.clock.advance(by: 600)
        #expect(try await worker.runOnce().accepted == 1)
        let messages = server.messages()
        try #require(messages.count == 2)
        #expect(messages[0] == messages[1], "the retry is the same message byte for byte")
        #expect(messages[1].contains("Date: Mon, 02 Nov 2026 09:00:00 +0000"), "dated at the first attempt, not the retry ten minutes later")
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "accepted" && $0.attempt == 2 })
        await harness.close()
    }

    @Test("R11 sustained: half of all SMTP connections dropped after the final dot (40 emails here, 1,000 in scripts/faults): every message arrives, each copy byte for byte the same under its one Message-ID, never more copies than its drops plus one")
    func sustainedDropsAfterDot() async throws {
        let count = Fixtures.faultScale(ci: 40, full: 1_000)
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", certificate.cert))
        try await harness.seed((0..<count).map { "p\($0),Ana,,p\($0)@example.org,,core,2026-11-02,,north" }.joined(separator: "\n"))
        harness.clock.set(sendTime)
        try "0.5 11\n".write(toFile: "\(server.maildir)/dropshare", atomically: true, encoding: .utf8)
        try await harness.drainRetryingEverySecond()
        #expect(try await harness.env.store.outboxRows().allSatisfy { $0.status == "accepted" }, "every message ends accepted")
        let names = try FileManager.default.contentsOfDirectory(atPath: server.maildir).filter { $0.hasSuffix(".eml") }
        let dropped = Set((try? String(contentsOfFile: "\(server.maildir)/dropped", encoding: .utf8))?.split(separator: "\n").map(String.init) ?? [])
        var copies: [String: (texts: Set<String>, received: Int, drops: Int)] = [:]
        for name in names {
            let text = try String(contentsOfFile: "\(server.maildir)/\(name)", encoding: .utf8)
            let id = text.range(of: "Message-ID: <[^>]+>", options: .regularExpression).map { String(text[$0]) } ?? ""
            #expect(!id.isEmpty && (text.contains("\nDate: ") || text.hasPrefix("Date: ")), "\(name) has a Message-ID and a Date")
            #expect(text.contains("From: Check-in <checkin@example.org>"))
            var entry = copies[id] ?? ([], 0, 0)
            entry.texts.insert(text)
            entry.received += 1
            if dropped.contains(name) { entry.drops += 1 }
            copies[id] = entry
        }
        #expect(copies.count == count, "every person's message arrived, each under its own Message-ID")
        #expect(copies.values.allSatisfy { $0.texts.count == 1 }, "every copy of a message is the same bytes")
        #expect(copies.values.allSatisfy { $0.received == $0.drops + 1 }, "copies are the drops plus the one taken")
        let drops = copies.values.map(\.drops).reduce(0, +)
        #expect(Double(drops) / Double(names.count) > 0.3, "about half the connections were dropped: \(drops) of \(names.count)")
        print("R11 figures: \(count) emails, \(names.count) received, \(drops) dropped after the final dot (each a same-Message-ID duplicate), 0 lost")
        await harness.close()
    }

    @Test("STARTTLS required but not offered: the send fails and nothing crosses in clear (no MAIL FROM)")
    func refusesWithoutTLS() async throws {
        let server = try SMTPServer(certificate: nil)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", nil))
        try await harness.seed("p1,Ana,,ana@example.org,,core,2026-11-02,,north")
        harness.clock.set(sendTime)
        let summary = try await harness.worker().runOnce()
        #expect(summary.failed == 1)
        #expect(server.messages().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(server.maildir)/log"), "no MAIL FROM reached the server")
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.allSatisfy { $0.error?.contains("STARTTLS") == true })
        await harness.close()
    }

    @Test("An untrusted certificate is refused")
    func untrustedCertificate() async throws {
        let certificate = try makeCertificate()
        let server = try SMTPServer(certificate: certificate)
        defer { server.stop() }
        let harness = try await Harness.make(receiver: nil, smtp: (server.port, "starttls", nil))
        try await harness.seed("p1,Ana,,ana@example.org,,core,2026-11-02,,north")
        harness.clock.set(sendTime)
        #expect(try await harness.worker().runOnce().failed == 1)
        #expect(server.messages().isEmpty)
        await harness.close()
    }
}
