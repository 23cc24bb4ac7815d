import Foundation
import Intake
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import SQLKit
import ROMService
import ROMTesting
import Storage
import Testing

/// Every route in the table is called with no credentials, with each wrong role, and with the right role.
@Suite("Route access")
struct RouteAccessTests {
    /// The only routes anyone may call unauthenticated (health, metrics, sign-in, the public landing page).
    static let publicRoutes: Set<String> = ["GET /", "GET /healthz", "GET /readyz", "GET /metrics", "GET /login", "POST /login", "POST /logout",
                                            "GET /login/code", "POST /login/code", "GET /account/setup/:token", "POST /account/setup/:token",
                                            "POST /callbacks/status/:gateway", "GET /unsubscribe/:token", "POST /unsubscribe/:token",
                                            "GET /c/:token", "HEAD /c/:token", "POST /c/:token", "POST /inbound/sms/:gateway", "POST /inbound/email/:gateway",
                                            "GET /api/v1/openapi.json"]

    struct Tokens {
        var secrets: [Role: String] = [:]
    }

    func makeTokens(_ store: SQLStore) async throws -> Tokens {
        var tokens = Tokens()
        for role in Role.allCases {
            let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
            try await store.insertToken(id: newID(), hash: Credentials.hash(secret), role: role, team: role == .clinician ? "north" : nil,
                                        label: nil, now: Fixtures.fixedNow)
            tokens.secrets[role] = secret
        }
        return tokens
    }

    func concrete(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix(":") ? "p1" : String($0) }.joined(separator: "/")
    }

    @Test("No route outside the public list is reachable without a token, and none accepts a role it does not name")
    func everyRouteIsGuarded() async throws {
        // This walk makes hundreds of refused attempts from one address on purpose: lift the failure limit for it.
        var configuration = try Fixtures.shippedConfiguration()
        configuration.settings.failedAttempts = 100_000
        try await Fixtures.withEnvironment(configuration: configuration) { env in
        let tokens = try await makeTokens(env.store)
        let table = Routes.table(env)
        #expect(table.entries.count >= 12)
        let app = Application(router: Routes.router(env))
        try await app.test(.router) { client in
            for entry in table.entries {
                let name = "\(entry.method) \(entry.path)"
                let uri = concrete(entry.path)
                switch entry.access {
                case .open:
                    #expect(Self.publicRoutes.contains(name), "\(name) is open but not on the public list")
                case .roles(let roles):
                    #expect(!Self.publicRoutes.contains(name))
                    try await client.execute(uri: uri, method: entry.method) { response in
                        if entry.isPage {
                            #expect(response.status == .found, "\(name) without a token should redirect to sign-in")
                            #expect(response.headers[.location]?.hasPrefix("/login") == true)
                        } else {
                            #expect(response.status == .unauthorized, "\(name) without a token answered \(response.status)")
                        }
                    }
                    try await client.execute(uri: uri, method: entry.method, headers: [.authorization: "Bearer rom_ops_forged"]) { response in
                        #expect(response.status == .unauthorized || response.status == .found, "\(name) accepted a forged token")
                    }
                    for role in Role.allCases {
                        let headers: HTTPFields = [.authorization: "Bearer \(tokens.secrets[role]!)"]
                        try await client.execute(uri: uri, method: entry.method, headers: headers) { response in
                            if roles.contains(role) {
                                #expect(response.status != .forbidden && response.status != .unauthorized, "\(name) refused its own role \(role)")
                            } else {
                                #expect(response.status == .forbidden, "\(name) let a \(role) token in (\(response.status))")
                            }
                        }
                    }
                }
            }
        }
        }
    }

    /// Signs in as a real account (password, then the TOTP code) and returns the `Set-Cookie` of the signed-in session.
    func signIn(_ client: some TestClientProtocol, _ env: ServiceEnvironment, origin: String, next: String = "") async throws -> (TestResponse, String) {
        let email = "ops-\(newID().lowercased())@example.org"
        let account = try await Fixtures.staffAccount(env.store, email: email, role: .ops, team: nil, password: "plum orbit lantern 42", now: env.now())
        let headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded", .origin: origin]
        let first = try await client.execute(uri: "/login", method: .post, headers: headers,
                                             body: ByteBuffer(string: "email=\(email)&password=plum+orbit+lantern+42&next=\(next)"))
        let pending = String(try #require(first.headers[.setCookie]).split(separator: ";")[0])
        let code = Fixtures.totpCode(secret: account.secret, at: env.now())
        var second = headers
        second[.cookie] = pending
        let response = try await client.execute(uri: "/login/code", method: .post, headers: second, body: ByteBuffer(string: "code=\(code)"))
        return (response, try #require(response.headers[.setCookie]))
    }

    @Test("Over https the session cookie is __Host-rom_session, Secure, Path=/ (no Domain), and every answer carries HSTS")
    func hostPrefixedCookie() async throws {
        let configuration = try Configuration.load(directory: Fixtures.configDirectory, environment: ["ROM_PUBLIC_URL": "https://checkin.example.org"])
        try await Fixtures.withEnvironment(configuration: configuration) { env in
            try await Application(router: Routes.router(env)).test(.router) { client in
                let (response, setCookie) = try await signIn(client, env, origin: "https://checkin.example.org")
                #expect(setCookie.hasPrefix("__Host-rom_session=") && setCookie.contains("Secure") && setCookie.contains("Path=/") && !setCookie.contains("Domain"))
                #expect(response.headers[HTTPField.Name("Strict-Transport-Security")!]?.hasPrefix("max-age=") == true)
                let cookie = String(setCookie.split(separator: ";")[0])
                #expect(try await client.execute(uri: "/ops", method: .get, headers: [.cookie: cookie]).status == .ok)
                let unprefixed = "rom_session=" + cookie.dropFirst("__Host-rom_session=".count)
                #expect(try await client.execute(uri: "/ops", method: .get, headers: [.cookie: unprefixed]).status == .found, "the unprefixed name is not accepted over https")
            }
        }
    }

    @Test("Signing in sets an HttpOnly SameSite=Strict session cookie that opens staff pages and refuses cross-site posts; a token is no password")
    func signInWithSession() async throws {
        try await Fixtures.withEnvironment { env in
        let tokens = try await makeTokens(env.store)
        let app = Application(router: Routes.router(env))
        try await app.test(.router) { client in
            let refused = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .origin: "http://127.0.0.1:8080"],
                                                   body: ByteBuffer(string: "token=\(tokens.secrets[.ops]!)"))
            #expect(refused.status == .unauthorized, "the old token sign-in is gone: browser sign-in is an account with MFA")
            let (response, setCookie) = try await signIn(client, env, origin: "http://127.0.0.1:8080", next: "%2Fops%2Fsandbox")
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/ops/sandbox")
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Strict"))
            let cookie = String(setCookie.split(separator: ";")[0])
            let page = try await client.execute(uri: "/ops/sandbox", method: .get, headers: [.cookie: cookie])
            #expect(page.status == .ok)
            #expect(page.headers[.cacheControl] == "no-store")
            let crossSite = try await client.execute(uri: "/ops/sandbox/test", method: .post,
                                                     headers: [.cookie: cookie, .origin: "https://evil.example", .contentType: "application/x-www-form-urlencoded"],
                                                     body: ByteBuffer(string: "person_id=x"))
            #expect(crossSite.status == .forbidden)
        }
        let stored = try await env.store.read { db in
            try await db.raw("SELECT session_hash, stage FROM sessions").all().map { (try $0.decode(column: "session_hash", as: String.self), try $0.decode(column: "stage", as: String.self)) }
        }
        #expect(stored.map(\.1) == ["signed_in"], "the pending session was replaced by the signed-in one")
        #expect(stored.allSatisfy { $0.0.count == 64 }, "only the SHA-256 of a session is stored")
        }
    }

    @Test("Guessing check-in links or tokens from one address gets 429 with Retry-After after 20 failures in 10 minutes; probes are not limited; the block lifts")
    func failedAttemptsAreLimited() async throws {
        let clock = ManualClock(Fixtures.fixedNow)
        let (store, _) = try await Fixtures.migratedStore()
        let env = try ServiceEnvironment(configuration: try Fixtures.shippedConfiguration(), store: store, now: { clock.now }, metrics: .init(),
                                         logger: Logger(label: "test"))
        try await Application(router: Routes.router(env)).test(.router) { client in
            for attempt in 1...20 {
                let status = try await client.execute(uri: "/c/guess\(attempt)", method: .get).status
                #expect(status == .gone)
            }
            let blocked = try await client.execute(uri: "/c/guess21", method: .get)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] == "600")
            let api = try await client.execute(uri: "/api/v1/flags", method: .get, headers: [.authorization: "Bearer rom_ops_guess"])
            #expect(api.status == .tooManyRequests, "the same address is refused on every credential route")
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok, "probes are never limited")
            clock.advance(by: 601)
            #expect(try await client.execute(uri: "/c/guess22", method: .get).status == .gone, "the block lifts after the window")
        }
        try await store.close()
    }

    @Test("The limiter counts per address: one address blocked leaves another untouched")
    func limiterIsPerSource() {
        let limiter = FailureLimiter(limit: 3, window: 60)
        let now = Fixtures.fixedNow
        for _ in 0..<3 { limiter.recordFailure("203.0.113.9", now: now) }
        #expect(limiter.retryAfter("203.0.113.9", now: now) == 60)
        #expect(limiter.retryAfter("198.51.100.7", now: now) == nil)
        #expect(limiter.retryAfter("203.0.113.9", now: now.addingTimeInterval(60)) == nil)
    }

    @Test("Health, readiness with the database settings in force (SQLite's pragmas, or PostgreSQL's serializable transactions), and Prometheus metrics")
    func healthAndMetrics() async throws {
        try await Fixtures.withEnvironment { env in
        let app = Application(router: Routes.router(env))
        try await app.test(.router) { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == #"{"status":"ready"}"#, "the public answer says ready and nothing more")
            let ops = Credentials.newSecret(prefix: "rom_ops")
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(ops), role: .ops, team: nil, label: nil, now: Fixtures.fixedNow)
            let details = try await client.execute(uri: "/api/v1/readiness", method: .get, headers: [.authorization: "Bearer \(ops)"])
            let body = try JSONSerialization.jsonObject(with: Data(String(buffer: details.body).utf8)) as? [String: String]
            if Fixtures.onPostgres {
                #expect(body?["engine"] == "postgres")
                #expect(body?["transactions"] == "serializable, retried on conflict")
            } else {
                #expect(body?["journal_mode"] == "wal")
                #expect(body?["synchronous"] == "2", "synchronous=FULL is 2")
                #expect(body?["busy_timeout"] == "5000")
            }
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(String(buffer: metrics.body).contains("rom_http_requests_total"))
        }
        }
    }

    @Test("An unknown role fails closed: a token or an account whose stored role is not ops, clinician or integration is refused, never taken for another")
    func unknownRoles() async throws {
        try await Fixtures.withEnvironment { env in
            let secret = Credentials.newSecret(prefix: "rom_x")
            try await env.store.insertToken(id: "t_odd", hash: Credentials.hash(secret), role: .integration, team: nil, label: nil, now: Fixtures.fixedNow)
            let cookie = try await Fixtures.staffSession(env.store, role: .ops, team: nil, now: Fixtures.fixedNow)
            try await env.store.transaction { db in
                try await db.raw("UPDATE api_tokens SET role = 'superuser' WHERE id = 't_odd'").run()
                try await db.raw("UPDATE staff_users SET role = 'integration'").run()
            }
            try await Application(router: Routes.router(env)).test(.router) { client in
                let byToken = try await client.execute(uri: "/api/v1/people", method: .get, headers: [.authorization: "Bearer \(secret)"])
                #expect(byToken.status == .unauthorized)
                let bySession = try await client.execute(uri: "/api/v1/people", method: .get, headers: [.cookie: cookie])
                #expect(bySession.status == .unauthorized, "integration is a role for systems: no staff account can hold it")
            }
        }
    }

    @Test("/readyz answers 503 when the database is not migrated")
    func notReady() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let store = try await SQLStore.open(url: "sqlite:\(folder)/empty.sqlite", logger: .init(label: "test"))
        let env = try ServiceEnvironment(configuration: try Fixtures.shippedConfiguration(), store: store, now: { Fixtures.fixedNow },
                                         metrics: .init(), logger: .init(label: "test"))
        try await Application(router: Routes.router(env)).test(.router) { client in
            let response = try await client.execute(uri: "/readyz", method: .get)
            #expect(response.status == .serviceUnavailable)
            #expect(String(buffer: response.body) == #"{"status":"not_ready"}"#, "no raw error for anyone who asks")
        }
        try await store.close()
    }
}
