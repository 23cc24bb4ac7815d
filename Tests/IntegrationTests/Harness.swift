import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Intake
import Logging
import Prometheus
import ROMService
import ROMTesting
import Scheduling
import SQLKit
import Storage

/// A service environment wired to real peers on 127.0.0.1, with a clock the test moves.
struct Harness {
    let env: ServiceEnvironment
    let clock: ManualClock
    let config: String
    /// `sqlite:…` URL of the harness's database, for running `rom` against it.
    let databaseURL: String

    static let signingSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// Writes gateways for the receiver and SMTP server into a copy of the shipped config and opens a fresh store.
    static func make(receiver: HTTPReceiver?, smtp: (port: Int, tls: String, ca: String?)?, timeout: String = "5s", dispatcherConcurrency: Int? = nil, dispatchPasses: Int? = nil, dispatcherBatch: Int? = nil,
                     replyBySMS: Bool = false, emailReplies: Bool = false, teams: String? = nil, securityYAML: String? = nil, failedAttempts: Int? = nil,
                     start: Date = ISO8601DateFormatter().date(from: "2026-11-02T08:00:00Z")!, databaseURL: String? = nil,
                     rateLimit: Double? = nil) async throws -> Harness {
        let config = try Fixtures.copyOfConfig()
        var gateways = "gateways:\n  sandbox-sms: { kind: sandbox, channel: sms }\n  sandbox-email: { kind: sandbox, channel: email }\n"
        if let receiver {
            gateways += """
              test-sms:
                kind: webhook
                channel: sms
                url: \(receiver.url)
                body: '{"to": "{{to}}", "text": "{{text}}", "reference": "{{idempotency_key}}"}'
                auth: { bearer: { env: TEST_SMS_TOKEN } }
                signing_secrets: [{ env: TEST_SIGNING_SECRET }]
                message_id_path: data.id
                timeout: \(timeout)
            \(rateLimit.map { "    rate_limit: \($0)" } ?? "")
                receipts:
                  id_field: MessageSid
                  status_field: MessageStatus
                  map: { sent: accepted, delivered: delivered, undelivered: failed, failed: failed }
                  signature: twilio
                  signing_secrets: [{ env: TEST_SMS_AUTH }]
                inbound:
                  signature: twilio
                  secrets: [{ env: TEST_SMS_AUTH }]

            """
        }
        if let smtp {
            gateways += """
              test-email:
                kind: smtp
                channel: email
                host: 127.0.0.1
                port: \(smtp.port)
                tls: \(smtp.tls)
                from: "Check-in <checkin@example.org>"
                reply_to: \(emailReplies ? "reply+{token}@in.example.org" : "reply@example.org")
                timeout: \(timeout)
            \(smtp.ca.map { "    ca_bundle: \($0)\n" } ?? "")\(emailReplies ? "    inbound: { signature: mailgun, secrets: [{ env: TEST_MAIL_KEY }] }\n" : "")
            """
        }
        try gateways.write(toFile: "\(config)/gateways.yaml", atomically: true, encoding: .utf8)
        let sms = receiver == nil ? "sandbox-sms" : "test-sms"
        let email = smtp == nil ? "sandbox-email" : "test-email"
        var pathways = try String(contentsOfFile: "\(config)/pathways.yaml", encoding: .utf8)
        pathways = pathways.replacingOccurrences(of: "gateways: { sms: sandbox-sms, email: sandbox-email }", with: "gateways: { sms: \(sms), email: \(email) }")
        if replyBySMS {
            pathways = pathways.replacingOccurrences(of: "    channels: [sms, email]  ", with: "    sms_style: reply\n    channels: [sms, email]  ")
        }
        try pathways.write(toFile: "\(config)/pathways.yaml", atomically: true, encoding: .utf8)
        var rom = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        if let concurrency = dispatcherConcurrency {
            rom = rom.replacingOccurrences(of: "  concurrency: 16 ", with: "  concurrency: \(concurrency) ")
        }
        if let passes = dispatchPasses {
            rom = rom.replacingOccurrences(of: "  passes: 2 ", with: "  passes: \(passes) ")
        }
        if let batch = dispatcherBatch {
            rom = rom.replacingOccurrences(of: "  batch: 1000 ", with: "  batch: \(batch) ")
        }
        rom = rom.replacingOccurrences(of: "link_secret: { file: var/link-secret }", with: "link_secret: { file: \(config)/link-secret }")
        if let failedAttempts {
            rom = rom.replacingOccurrences(of: "  failed_attempts: 20", with: "  failed_attempts: \(failedAttempts)")
        }
        if let securityYAML {
            rom = rom.replacingOccurrences(of: "  trusted_proxies: []", with: securityYAML.trimmingCharacters(in: .newlines))
        }
        if let teams, let start = rom.range(of: "\nteams:") {
            // The teams block is the last in rom.yaml: replace it whole.
            rom = String(rom[..<start.lowerBound]) + "\nteams:\n" + teams + "\n"
        }
        try rom.write(toFile: "\(config)/rom.yaml", atomically: true, encoding: .utf8)
        let environment = ["TEST_SMS_TOKEN": "token-123", "TEST_SIGNING_SECRET": signingSecret, "TEST_SMS_AUTH": "12345", "TEST_MAIL_KEY": "key-mailgun-test"]
        let configuration = try Configuration.load(directory: config, environment: environment)
        let (store, url): (SQLStore, String)
        if let databaseURL {
            // A database of the test's own (say, on a server it will stop and start again).
            store = try await SQLStore.open(url: databaseURL, logger: Logger(label: "test"))
            try await store.migrate(now: start)
            url = databaseURL
        } else {
            (store, _, url) = try await Fixtures.migratedStoreAndURL()
        }
        let clock = ManualClock(start)
        let env = try ServiceEnvironment(configuration: configuration, store: store, now: { clock.now }, metrics: .init(),
                                         logger: Logger(label: "test"), environment: environment)
        return Harness(env: env, clock: clock, config: config, databaseURL: url)
    }

    /// Imports people (CSV rows after the header) and runs a scheduler tick now.
    func seed(_ rows: String) async throws {
        let outcome = try await PeopleImporter(env: env).importCSV("id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n\(rows)\n", partial: false)
        precondition(outcome.problems.isEmpty, "\(outcome.problems)")
        _ = try await SchedulerRunner(env: env).tick(now: clock.now)
    }

    /// Sends p1's baseline check-in through the sandbox at 09:00 on 2 Nov 2026 and returns its link's token.
    func sendBaseline() async throws -> String {
        clock.set(ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        let summary = try await worker().runOnce()
        guard summary.accepted == 1, let link = try await env.store.sandboxMessages().first?.link, let token = link.split(separator: "/").last else {
            throw HarnessError(description: "the baseline was not sent through the sandbox: \(summary)")
        }
        return String(token)
    }

    /// Seeds `rows` (p1 on the core pathway by default), leaves `person`'s CORE-10 the only open prompt (so an uncoded email
    /// reply has one to answer), sends the check-in email at 09:00 on 2 Nov 2026 through `server` and returns the
    /// message's `Reply-To` address (`reply+<token>@in.example.org`).
    func sendCoreEmail(_ server: SMTPServer, rows: String = "p1,Ana,,ana@example.org,,core,2026-11-02,,north", person: String = "p1") async throws -> String {
        try await seed(rows)
        try await env.store.transaction { db in
            try await db.raw("UPDATE prompts SET status = 'answered' WHERE person_id = \(bind: person) AND instrument <> 'core10'").run()
        }
        clock.set(ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        _ = try await worker().runOnce()
        guard let mail = server.messages().first, let replyTo = mail.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("Reply-To:") }) else {
            throw HarnessError(description: "no check-in email with a Reply-To reached the SMTP server")
        }
        return String(replyTo.dropFirst("Reply-To: ".count))
    }

    /// A Mailgun parsed-email webhook body for `fields`, signed as Mailgun signs (HMAC-SHA256 over timestamp + token
    /// with the harness's key, computed here with swift-crypto) at `at`, with an SPF pass.
    static func mailgunForm(_ fields: [(String, String)], token: String, at: Date) -> String {
        let timestamp = String(Int(at.timeIntervalSince1970))
        let signature = HMAC<SHA256>.authenticationCode(for: Data((timestamp + token).utf8), using: SymmetricKey(data: Data("key-mailgun-test".utf8)))
            .map { String(format: "%02x", $0) }.joined()
        return (fields + [("X-Mailgun-Spf", "Pass"), ("timestamp", timestamp), ("token", token), ("signature", signature)])
            .map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
    }

    /// A browser session cookie value for a staff member of `role` (and `team`).
    func session(_ role: Role, team: String?, label: String = "test") async throws -> String {
        try await Fixtures.staffSession(env.store, role: role, team: team, label: label, now: clock.now)
    }

    /// A new API token of `role` (and `team`), stored as the service stores them; returns the secret.
    func token(_ role: Role, team: String? = nil) async throws -> String {
        let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
        try await env.store.insertToken(id: newID(), hash: Credentials.hash(secret), role: role, team: team, label: "\(role) \(team ?? "")", now: clock.now)
        return secret
    }

    /// Calls the API with a bearer token and reads the JSON object it answers (empty when the body is not one).
    static func json(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ token: String,
                     _ body: String = "") async throws -> (HTTPResponse.Status, [String: Any]) {
        let response = try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                body: ByteBuffer(string: body))
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]) ?? [:])
    }

    /// A worker with fixed jitter (the middle of the range) so retry times are exact.
    func worker(policy: RetryPolicy = RetryPolicy(), concurrency: Int = 16) -> OutboxWorker {
        OutboxWorker(store: env.store, gateways: env.gateways, composer: env.composer, pathways: env.configuration.pathways, links: env.links,
                     policy: policy, lease: 60, dailyCap: env.configuration.settings.dailyCap, batch: env.configuration.settings.dispatchBatch, concurrency: concurrency,
                     clock: { clock.now }, jitter: { 0.5 }, logger: env.logger)
    }

    /// Sends everything through a worker that retries every second, moving the clock on a second whenever nothing is
    /// due, until every outbox row is accepted (or 200 idle seconds pass): a whole drain through a faulty peer.
    func drainRetryingEverySecond() async throws {
        let worker = worker(policy: RetryPolicy(base: 1, multiplier: 1, cap: 1, jitter: 0, maxAttempts: 100))
        var idle = 0
        while idle < 200 {
            if try await worker.runOnce().claimed > 0 { continue }
            if try await env.store.outboxRows().allSatisfy({ $0.status == "accepted" }) { return }
            clock.advance(by: 1)
            idle += 1
        }
    }

    func close() async {
        env.curl?.shutdown()
        try? await env.store.close()
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}
