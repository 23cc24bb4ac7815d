import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Intake
import Prometheus
import ROMService
import ROMTesting
import Scheduling
import Storage
import Testing

/// Findings of the HTTP security review, each with its regression test, over real sockets where the peer address matters.
@Suite("Hardened doors", .serialized)
struct HardenedDoorsTests {
    /// `curl` against the live server: the status code.
    func curl(_ arguments: [String]) async throws -> String {
        try await Subprocess.runAsync("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"] + arguments).stdout
    }

    @Test("Bad webhook signatures never lock out a provider's address (they are security events); unknown check-in links still do, per client behind a trusted proxy")
    func limiter() async throws {
        let harness = try await Harness.make(receiver: try HTTPReceiver(), smtp: nil, securityYAML: "  trusted_proxies: [127.0.0.1]\n")
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            // Someone else's Twilio account, signing with their own token: 30 refusals, and the 31st, a real one, still gets in.
            let forged = [("MessageSid", "SMX"), ("From", "+447700900001"), ("Body", "STOP")]
            let form = forged.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
            let wrong = TwilioSignature.expected(url: "\(harness.env.configuration.settings.publicURL)/inbound/sms/test-sms", parameters: forged, authToken: "not-ours")
            for _ in 0..<30 {
                let status1 = try await curl(["-H", "X-Twilio-Signature: \(wrong)", "--data-binary", form, "\(base)/inbound/sms/test-sms"])
                #expect(status1 == "401")
            }
            let right = TwilioSignature.expected(url: "\(harness.env.configuration.settings.publicURL)/inbound/sms/test-sms", parameters: forged, authToken: "12345")
            let status2 = try await curl(["-H", "X-Twilio-Signature: \(right)", "--data-binary", form, "\(base)/inbound/sms/test-sms"])
            #expect(status2 == "200",
                    "the provider's real message is not locked out by the forged ones")
            var metrics: [UInt8] = []
            harness.env.metrics.emit(into: &metrics)
            #expect(String(decoding: metrics, as: UTF8.self).contains(#"rom_security_events_total{event="bad_signature",route="/inbound/sms/:gateway"} 30"#))

            // Guessing check-in links is still limited by address: each client behind the trusted proxy on its own.
            for _ in 0..<20 {
                let status3 = try await curl(["-H", "X-Forwarded-For: 198.51.100.7", "\(base)/c/guess-\(Int.random(in: 0...1_000_000))"])
                #expect(status3 == "410")
            }
            let status4 = try await curl(["-H", "X-Forwarded-For: 198.51.100.7", "\(base)/c/guess"])
            #expect(status4 == "429", "the guessing client is stopped")
            let status5 = try await curl(["-H", "X-Forwarded-For: 198.51.100.8", "\(base)/c/guess"])
            #expect(status5 == "410", "another patient behind the same proxy is not")
        }
        await harness.close()
    }

    @Test("Sign-in limits key on what is guessed, over real sockets behind a trusted proxy: unknown emails per client address, passwords per account whatever the address")
    func signInLimits() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil, securityYAML: "  trusted_proxies: [127.0.0.1]\n")
        _ = try await Fixtures.staffAccount(harness.env.store, email: "nia@example.org", role: .clinician, team: "north", password: "plum orbit lantern 42", now: harness.clock.now)
        _ = try await Fixtures.staffAccount(harness.env.store, email: "kai@example.org", role: .ops, team: nil, password: "plum orbit lantern 42", now: harness.clock.now)
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            func login(_ client: String, _ email: String, _ password: String) async throws -> String {
                try await curl(["-H", "X-Forwarded-For: \(client)", "-H", "Origin: http://127.0.0.1:\(port)",
                                "--data-urlencode", "email=\(email)", "--data-urlencode", "password=\(password)", "http://127.0.0.1:\(port)/login"])
            }
            for index in 0..<20 {
                let status = try await login("198.51.100.7", "guess\(index)@example.org", "password1234")
                #expect(status == "401")
            }
            #expect(try await login("198.51.100.7", "guess@example.org", "password1234") == "429", "the client guessing emails is stopped")
            #expect(try await login("198.51.100.8", "guess@example.org", "password1234") == "401", "a colleague behind the same proxy is not")
            #expect(try await login("198.51.100.7", "kai@example.org", "plum orbit lantern 42") == "303", "nor is a real account from the guessing address")
            // Passwords: six wrong ones for one account from six addresses hold that account back, and only it.
            for index in 0..<6 {
                let status = try await login("203.0.113.\(index)", "nia@example.org", "wrong password \(index)")
                #expect(status == "401")
            }
            #expect(try await login("203.0.113.99", "nia@example.org", "plum orbit lantern 42") == "429", "a new address does not reset the account's wait")
            #expect(try await login("203.0.113.0", "kai@example.org", "plum orbit lantern 42") == "303", "the guessing addresses can still sign in to their own accounts")
        }
        var metrics: [UInt8] = []
        harness.env.metrics.emit(into: &metrics)
        let text = String(decoding: metrics, as: UTF8.self)
        #expect(text.contains(#"rom_security_events_total{event="login_unknown_account",route="/login"} 21"#), "20 guesses and the colleague's one; the refused 21st is not a guess")
        #expect(text.contains(#"rom_security_events_total{event="login_wrong_password",route="/login"} 6"#))
        await harness.close()
    }

    @Test("A captured Mailgun signature cannot carry another body: the same token with a different body is refused; an identical retry is accepted once")
    func mailgunReplay() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: (25, "none", nil), emailReplies: true)
        let now = harness.clock.now
        let timestamp = String(Int(now.timeIntervalSince1970))
        let token = "replay" + String(repeating: "a", count: 44)
        let signature = MailgunSignature.expected(timestamp: timestamp, token: token, key: "key-mailgun-test")
        @Sendable func body(_ text: String) -> String {
            [("recipient", "reply+AAAA@in.example.org"), ("body-plain", text), ("Message-Id", "<m1@mail>"), ("X-Mailgun-Spf", "Pass"),
             ("timestamp", timestamp), ("token", token), ("signature", signature)]
                .map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&")
        }
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            func post(_ text: String) async throws -> HTTPResponse.Status {
                try await client.execute(uri: "/inbound/email/test-email", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: body(text))).status
            }
            let first = try await post("1 2 3"), retry = try await post("1 2 3"), replay = try await post("3 3 3 3 3 3 3 3 3")
            #expect(first == .ok)
            #expect(retry == .ok, "Mailgun's own retry of the same message")
            #expect(replay == .unauthorized, "the same signature over another body")
        }
        #expect(try await harness.env.store.inboundReplies(source: "email").count == 1)
        await harness.close()
    }

    @Test("Every answer carries nosniff and no framing, errors too; HSTS only with an https public URL; an address with CR/LF or <> is refused")
    func headersAndAddresses() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            for uri in ["/healthz", "/c/unknown", "/api/v1/people", "/login"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(uri)")
                #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true, "\(uri)")
                #expect(response.headers[HTTPField.Name("Strict-Transport-Security")!] == nil, "http public URL: no HSTS")
            }
        }
        await harness.close()
        for address in ["ana@example.org\r\nBcc: x@evil.example", "Ana <ana@example.org>", "ana\"@example.org"] {
            #expect(!ContactRules.isEmail(address), "\(address)")
        }
        #expect(ContactRules.isEmail("ana.o-brien+care@example.nhs.uk"))
    }

    @Test("A cookie POST needs this service's Origin, or its Referer when no Origin is sent; /logout too")
    func originRequired() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let cookie = try await harness.session(.clinician, team: "north")
        let flagPost: (HTTPFields) async throws -> HTTPResponse.Status = { extra in
            var fields: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
            fields.append(contentsOf: extra)
            let headers = fields
            return try await Application(router: Routes.router(harness.env)).test(.router) { client in
                try await client.execute(uri: "/clinician/people/p1/review/notes", method: .post, headers: headers,
                                         body: ByteBuffer(string: "matches_experience=yes&note=seen")).status
            }
        }
        #expect(try await flagPost([:]) == .forbidden, "no Origin and no Referer")
        #expect(try await flagPost([.origin: "https://evil.example"]) == .forbidden)
        #expect(try await flagPost([.origin: "null"]) == .forbidden)
        #expect(try await flagPost([.referer: "https://evil.example/clinician/people"]) == .forbidden)
        #expect(try await flagPost([.referer: "http://127.0.0.1:8080/clinician/people/p1/review"]) != .forbidden)
        #expect(try await flagPost([.origin: "http://127.0.0.1:8080"]) != .forbidden)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let logout = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: cookie, .origin: "https://evil.example"])
            #expect(logout.status == .forbidden, "another site cannot sign a clinician out")
        }
        #expect(try await harness.env.store.session(hash: Credentials.hash(String(cookie.dropFirst("rom_session=".count))), idle: 1_800, now: harness.clock.now) != nil)
        await harness.close()
    }

    @Test("A Twilio JSON webhook's body is bound by bodySHA256: the same signed URL with another body is refused")
    func twilioBodySHA256() async throws {
        let harness = try await Harness.make(receiver: try HTTPReceiver(), smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let body = #"{"MessageSid": "SMJ1", "From": "+447700900001", "Body": "STOP"}"#
        let hash = SHA256.hash(data: Data(body.utf8)).map { String(format: "%02x", $0) }.joined()
        let path = "/inbound/sms/test-sms?bodySHA256=\(hash)"
        // For JSON Twilio signs the URL alone (no parameters).
        let signature = TwilioSignature.expected(url: "http://127.0.0.1:8080\(path)", parameters: [], authToken: "12345")
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("X-Twilio-Signature")!] = signature
            let swapped = try await client.execute(uri: path, method: .post, headers: headers,
                                                   body: ByteBuffer(string: #"{"MessageSid": "SMJ2", "From": "+447700900001", "Body": "START"}"#))
            #expect(swapped.status == .unauthorized, "another body under the same signed URL")
            let genuine = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(genuine.status == .ok)
        }
        await harness.env.background.drain()
        #expect(try await harness.env.store.inboundReplies(source: "sms").map(\.reason) == ["opt_out"])
        await harness.close()
    }

    @Test("The sandbox page masks live links, and a test send goes only through kind: sandbox gateways")
    func sandboxPage() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let cookie = try await harness.session(.ops, team: nil)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            // The pathway's SMS gateway is a real webhook here: the test send must refuse it.
            let refused = try await client.execute(uri: "/ops/sandbox/test", method: .post,
                                                   headers: [.cookie: cookie, .origin: "http://127.0.0.1:8080", .contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: "person_id=p1"))
            #expect(refused.status == .unprocessableContent)
            #expect(receiver.requests().isEmpty, "nothing reached the provider")
        }
        // A sandbox harness: the live link is in the store, but the page shows only its first characters.
        let sandbox = try await Harness.make(receiver: nil, smtp: nil)
        try await sandbox.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        _ = try await sandbox.sendBaseline()
        let link = try #require(try await sandbox.env.store.sandboxMessages().first?.link)
        let token = String(link.split(separator: "/").last!)
        let opsCookie = try await sandbox.session(.ops, team: nil)
        try await Application(router: Routes.router(sandbox.env)).test(.router) { client in
            let page = String(buffer: try await client.execute(uri: "/ops/sandbox", method: .get, headers: [.cookie: opsCookie]).body)
            #expect(page.contains("/c/\(token.prefix(4))…"))
            #expect(!page.contains(token), "the live token is not on the page")
        }
        await sandbox.close()
        await harness.close()
    }
}
