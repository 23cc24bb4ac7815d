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

/// Staff accounts end to end through the router: password, then TOTP code, sessions, backoff, set-up links.
/// Codes here come from HummingbirdOTP's `TOTP` directly; the browser test gets them from PyPI's pyotp.
@Suite("Staff sign-in", .serialized)
struct StaffSignInTests {
    static let origin = "http://127.0.0.1:8080"
    static let password = "plum orbit lantern 42"

    struct Answer {
        var status: HTTPResponse.Status
        var location: String?
        var cookie: String?
        var body: String
        var retryAfter: String?
    }

    /// A form post from our own pages (with this service's Origin), carrying `cookie` when given.
    static func post(_ client: some TestClientProtocol, _ uri: String, _ form: String, cookie: String? = nil, origin: String? = origin) async throws -> Answer {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let origin { headers[.origin] = origin }
        if let cookie { headers[.cookie] = cookie }
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: form))
        return Answer(status: response.status, location: response.headers[.location],
                      cookie: response.headers[.setCookie].map { String($0.split(separator: ";")[0]) }, body: String(buffer: response.body),
                      retryAfter: response.headers[.retryAfter])
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, cookie: String?) async throws -> HTTPResponse.Status {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        return try await client.execute(uri: uri, method: .get, headers: headers).status
    }

    static func code(_ secret: String, at date: Date) -> String { Fixtures.totpCode(secret: secret, at: date) }

    static func form(_ fields: [String: String]) -> String {
        fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.sorted().joined(separator: "&")
    }

    @Test("Email and password, then the TOTP code: the pending session opens nothing, the signed-in one is new, goes to `next`, and audit rows name the user")
    func twoSteps() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let account = try await Fixtures.staffAccount(harness.env.store, email: "nia@example.org", role: .clinician, team: "north", password: Self.password, now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let first = try await Self.post(client, "/login", Self.form(["email": "Nia@Example.org ", "password": Self.password, "next": "/clinician/people/p1/review"]))
            #expect(first.status == .seeOther && first.location == "/login/code")
            let pending = try #require(first.cookie)
            #expect(try await Self.get(client, "/clinician/people", cookie: pending) == .found, "the password alone opens no staff page")
            #expect(try await Self.get(client, "/api/v1/people", cookie: pending) == .unauthorized)
            #expect(try await Self.get(client, "/login/code", cookie: pending) == .ok)

            let wrong = try await Self.post(client, "/login/code", Self.form(["code": "000000"]), cookie: pending)
            #expect(wrong.status == .unauthorized && wrong.body.contains("That code was not right"))
            let second = try await Self.post(client, "/login/code", Self.form(["code": Self.code(account.secret, at: harness.clock.now)]), cookie: pending)
            #expect(second.status == .seeOther && second.location == "/clinician/people/p1/review")
            let session = try #require(second.cookie)
            #expect(session != pending, "signing in issues a new session (no fixation)")
            #expect(try await Self.get(client, "/clinician/people", cookie: session) == .ok)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": Self.code(account.secret, at: harness.clock.now)]), cookie: pending).status
                    == .unauthorized, "the pending session is spent")
        }
        let audit = try await harness.env.store.auditEvents(limit: 20)
        #expect(audit.contains { $0.actor == "nia@example.org" && $0.action == "user.sign_in" })
        #expect(audit.contains { $0.actor == "nia@example.org" && $0.action == "user.sign_in_refused" && $0.detail == "wrong code; 1 in a row" })
        #expect(audit.contains { $0.actor == "nia@example.org" && $0.action == "caseload.view" }, "what the user did is audited under their name")
        #expect(try await harness.env.store.user(email: "nia@example.org")?.lastSignInAt == harness.clock.now)
        await harness.close()
    }

    @Test("A code is good once (a replay on a new sign-in is refused), one step of clock drift either way is accepted, two are not; a recovery code works once")
    func oneTimeCodes() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let account = try await Fixtures.staffAccount(harness.env.store, email: "ola@example.org", role: .ops, team: nil, password: Self.password, now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let now = harness.clock.now
            let used = Self.code(account.secret, at: now)
            let pending1 = try #require(try await Self.post(client, "/login", Self.form(["email": "ola@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": used]), cookie: pending1).status == .seeOther)
            let pending2 = try #require(try await Self.post(client, "/login", Self.form(["email": "ola@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": used]), cookie: pending2).status == .unauthorized,
                    "the same code again, even on a new sign-in, is refused")
            harness.clock.advance(by: 60)
            let pending3 = try #require(try await Self.post(client, "/login", Self.form(["email": "ola@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": Self.code(account.secret, at: harness.clock.now.addingTimeInterval(-30))]),
                                        cookie: pending3).status == .seeOther, "the previous step's code (30 s of drift)")
            harness.clock.advance(by: 120)
            let pending4 = try #require(try await Self.post(client, "/login", Self.form(["email": "ola@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": Self.code(account.secret, at: harness.clock.now.addingTimeInterval(-60))]),
                                        cookie: pending4).status == .unauthorized, "a code two steps old")
            let recovery = account.recoveryCodes[3].uppercased().replacingOccurrences(of: "-", with: " ")
            let pending5 = try #require(try await Self.post(client, "/login", Self.form(["email": "ola@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": recovery]), cookie: pending5).status == .seeOther,
                    "a recovery code, typed in capitals with a space")
            let pending6 = try #require(try await Self.post(client, "/login", Self.form(["email": "ola@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": account.recoveryCodes[3]]), cookie: pending6).status == .unauthorized,
                    "and only once")
        }
        #expect(try await harness.env.store.user(email: "ola@example.org")?.recoveryCodesLeft == 9)
        #expect(try await harness.env.store.auditEvents(limit: 50).contains { $0.action == "user.recovery_code_used" && $0.detail == "9 left" })
        await harness.close()
    }

    @Test("Wrong passwords hold back that account only, growing from 30 s after five; unknown emails count against the address only; a right password does not lift a hold early")
    func backoff() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let target = try await Fixtures.staffAccount(harness.env.store, email: "target@example.org", role: .ops, team: nil, password: Self.password, now: harness.clock.now)
        _ = try await Fixtures.staffAccount(harness.env.store, email: "colleague@example.org", role: .ops, team: nil, password: Self.password, now: harness.clock.now)
        _ = target
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            for attempt in 1...6 {
                let answer = try await Self.post(client, "/login", Self.form(["email": "target@example.org", "password": "wrong password \(attempt)"]))
                #expect(answer.status == .unauthorized, "attempt \(attempt)")
                #expect(answer.body.contains("That email and password do not match an account"))
            }
            let held = try await Self.post(client, "/login", Self.form(["email": "target@example.org", "password": Self.password]))
            #expect(held.status == .tooManyRequests && held.retryAfter == "30", "after the sixth failure the account waits 30 s, even with the right password")
            let colleague = try await Self.post(client, "/login", Self.form(["email": "colleague@example.org", "password": Self.password]))
            #expect(colleague.status == .seeOther, "a colleague signing in from the same address is not affected")
            harness.clock.advance(by: 31)
            #expect(try await Self.post(client, "/login", Self.form(["email": "target@example.org", "password": "wrong again"])).status == .unauthorized)
            #expect(try await Self.post(client, "/login", Self.form(["email": "target@example.org", "password": Self.password])).retryAfter == "60",
                    "the next failure doubles the wait")
            harness.clock.advance(by: 61)
            let back = try await Self.post(client, "/login", Self.form(["email": "target@example.org", "password": Self.password]))
            #expect(back.status == .seeOther, "the owner gets in once the wait is over")

            // Unknown accounts: after `failed_attempts` (20) from this address it gets 429 for unknown emails …
            for index in 0..<20 {
                #expect(try await Self.post(client, "/login", Self.form(["email": "nobody\(index)@example.org", "password": "x"])).status == .unauthorized)
            }
            #expect(try await Self.post(client, "/login", Self.form(["email": "nobody@example.org", "password": "x"])).status == .tooManyRequests)
            // … while a real account from the same address still signs in.
            #expect(try await Self.post(client, "/login", Self.form(["email": "colleague@example.org", "password": Self.password])).status == .seeOther)
        }
        #expect(try await harness.env.store.user(email: "colleague@example.org")?.failedCount == 0)
        await harness.close()
    }

    @Test("Sessions end after 30 minutes idle and 12 hours in all, and at once when the account is disabled or its password or MFA is reset")
    func sessionsEnd() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let account = try await Fixtures.staffAccount(harness.env.store, email: "kai@example.org", role: .ops, team: nil, password: Self.password, now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            func signIn() async throws -> String {
                harness.clock.advance(by: 30)
                let pending = try #require(try await Self.post(client, "/login", Self.form(["email": "kai@example.org", "password": Self.password])).cookie)
                return try #require(try await Self.post(client, "/login/code", Self.form(["code": Self.code(account.secret, at: harness.clock.now)]), cookie: pending).cookie)
            }
            var session = try await signIn()
            harness.clock.advance(by: 29 * 60)
            #expect(try await Self.get(client, "/ops", cookie: session) == .ok, "29 minutes idle: still signed in")
            harness.clock.advance(by: 30 * 60 + 1)
            #expect(try await Self.get(client, "/ops", cookie: session) == .found, "30 minutes idle: signed out")

            session = try await signIn()
            for _ in 0..<(12 * 3 - 1) {
                harness.clock.advance(by: 20 * 60)
                #expect(try await Self.get(client, "/ops", cookie: session) == .ok)
            }
            harness.clock.advance(by: 20 * 60)
            #expect(try await Self.get(client, "/ops", cookie: session) == .found, "12 hours after signing in, however busy")

            session = try await signIn()
            try await harness.env.store.setMFA(userID: account.id, totpSecret: StaffAuth.newTOTPSecret(), recoveryCodeHashes: [], actor: "cli", now: harness.clock.now)
            #expect(try await Self.get(client, "/ops", cookie: session) == .found, "an MFA reset ends the session")
        }
        await harness.close()
    }

    @Test("A set-up link sets the password once and shows the authenticator key, its otpauth URI and ten recovery codes once; weak or mismatched passwords are refused")
    func setupLink() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let link = Credentials.newSecret(prefix: "setup")
        try await harness.env.store.insertUser(id: "u_new", email: "mo@example.org", role: .clinician, team: "north", passwordHash: nil, totpSecret: nil,
                                               recoveryCodeHashes: [], setupHash: Credentials.hash(link),
                                               setupExpiresAt: harness.clock.now.addingTimeInterval(StaffAuth.setupLinkLifetime), actor: "cli", now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            #expect(try await Self.post(client, "/login", Self.form(["email": "mo@example.org", "password": "anything at all"])).status == .unauthorized,
                    "no password yet: no sign-in")
            #expect(try await Self.get(client, "/account/setup/\(link)", cookie: nil) == .ok)
            let short = try await Self.post(client, "/account/setup/\(link)", Self.form(["password": "short", "confirm": "short"]))
            #expect(short.status == .unprocessableContent && short.body.contains("at least 12 characters"))
            let mismatch = try await Self.post(client, "/account/setup/\(link)", Self.form(["password": Self.password, "confirm": Self.password + "x"]))
            #expect(mismatch.status == .unprocessableContent && mismatch.body.contains("not the same"))
            #expect(try await Self.post(client, "/account/setup/\(link)", Self.form(["password": Self.password, "confirm": Self.password]), origin: "https://evil.example").status
                    == .forbidden)
            let done = try await Self.post(client, "/account/setup/\(link)", Self.form(["password": Self.password, "confirm": Self.password]))
            #expect(done.status == .ok)
            let uri = try #require(done.body.range(of: "otpauth://totp/[^<]+", options: .regularExpression).map { String(done.body[$0]) })
            let key = try #require(done.body.range(of: #"id="totp-secret">([A-Z2-7]+)<"#, options: .regularExpression).map { String(done.body[$0]) })
            #expect(uri.contains("secret=") && key.count > 40)
            #expect(done.body.components(separatedBy: "<li><code>").count - 1 == 10, "ten recovery codes")
            #expect(try await Self.get(client, "/account/setup/\(link)", cookie: nil) == .gone, "the link works once")
            // The secret shown is the one that signs in.
            let stored = try #require(try await harness.env.store.user(email: "mo@example.org")?.totpSecret)
            #expect(uri.contains("secret=\(StaffAuth.base32(ofSecret: stored))"))
            let pending = try #require(try await Self.post(client, "/login", Self.form(["email": "mo@example.org", "password": Self.password])).cookie)
            #expect(try await Self.post(client, "/login/code", Self.form(["code": Self.code(stored, at: harness.clock.now)]), cookie: pending).status == .seeOther)
        }
        let hash = try await harness.env.store.read { db in
            try await db.raw("SELECT password_hash FROM staff_users WHERE id = 'u_new'").first()?.decode(column: "password_hash", as: String.self)
        }
        #expect(hash?.hasPrefix("$2b$12$") == true, "bcrypt at cost 12")
        await harness.close()
    }

    @Test("Sign-in forms need this service's Origin (no login CSRF); `next` is kept only as a same-site path; a disabled account cannot sign in and ops see it on /ops/users")
    func doors() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let account = try await Fixtures.staffAccount(harness.env.store, email: "ops1@example.org", role: .ops, team: nil, password: Self.password, now: harness.clock.now)
        _ = try await Fixtures.staffAccount(harness.env.store, email: "gone@example.org", role: .clinician, team: "north", password: Self.password, now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            #expect(try await Self.post(client, "/login", Self.form(["email": "ops1@example.org", "password": Self.password]), origin: nil).status == .forbidden)
            #expect(try await Self.post(client, "/login", Self.form(["email": "ops1@example.org", "password": Self.password]), origin: "https://evil.example").status == .forbidden)
            let pending = try #require(try await Self.post(client, "/login", Self.form(["email": "ops1@example.org", "password": Self.password, "next": "/\\evil.example"])).cookie)
            let signedIn = try await Self.post(client, "/login/code", Self.form(["code": Self.code(account.secret, at: harness.clock.now)]), cookie: pending)
            #expect(signedIn.location == "/ops", "an unsafe next falls back to the role's home")
            let session = try #require(signedIn.cookie)
            let users = try await client.execute(uri: "/ops/users", method: .get, headers: [.cookie: session])
            #expect(users.status == .ok && String(buffer: users.body).contains("gone@example.org"))
            let gone = try #require(try await harness.env.store.user(email: "gone@example.org"))
            let disable = try await Self.post(client, "/ops/users/\(gone.id)/disable", "", cookie: session)
            #expect(disable.status == .seeOther)
            #expect(try await Self.post(client, "/ops/users/\(account.id)/disable", "", cookie: session).status == .unprocessableContent, "not your own account")
            #expect(try await Self.post(client, "/login", Self.form(["email": "gone@example.org", "password": Self.password])).status == .unauthorized)
        }
        #expect(try await harness.env.store.auditEvents(limit: 20).contains { $0.actor == "ops1@example.org" && $0.action == "user.disable" })
        await harness.close()
    }
}
