public import Hummingbird
import Foundation
import HTTPTypes
import Logging
import Intake
import Prometheus
import Scheduling
import Storage

/// Builds the router: every route goes through the route table and its access guard.
public enum Routes {
    public static func table(_ env: ServiceEnvironment) -> RouteTable {
        var table = RouteTable()
        health(&table, env)
        signIn(&table, env)
        people(&table, env)
        reviews(&table, env)
        delivery(&table, env)
        checkin(&table, env)
        responses(&table, env)
        inboundSMS(&table, env)
        inboundEmail(&table, env)
        flags(&table, env)
        inbox(&table, env)
        ops(&table, env)
        clinician(&table, env)
        reviewPacks(&table, env)
        reports(&table, env)
        return table
    }

    public static func router(_ env: ServiceEnvironment) -> Router<ROMRequestContext> {
        let router = Router(context: ROMRequestContext.self)
        let authenticator = Authenticator(store: env.store, now: env.now, publicURL: env.configuration.settings.publicURL)
        router.add(middleware: RequestMetricsMiddleware(registry: env.metrics))
        router.add(middleware: SecurityHeadersMiddleware(https: env.configuration.settings.publicURL.hasPrefix("https:")))
        table(env).install(on: router, guard: authenticator, limiter: env.failureLimiter, trustedProxies: env.configuration.settings.trustedProxies)
        return router
    }

    // MARK: - Health and metrics

    static func health(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/", .open, page: true) { _, _ in
            HTML.response(HTML.page(title: "Routine outcome monitoring", body: """
            <h1>rom</h1><p>Brief outcome ratings before each review, scored and flagged for the clinician.</p>
            <ul><li><a href="/login">Sign in</a> (clinicians and ops staff, with a token from <code>rom tokens create</code>)</li>
            <li><a href="/ops/sandbox">Sandbox outbox</a> (ops)</li><li><a href="/clinician/people">Caseload</a> (clinicians)</li>
            <li><a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></li></ul>
            """))
        }
        table.add(.get, "/healthz", .open) { _, _ in
            try jsonResponse(["status": "ok"])
        }
        // Anyone may ask whether the service is ready; only ops see why not, and the database settings.
        table.add(.get, "/readyz", .open) { _, _ in
            do {
                try await env.store.checkReady()
                return try jsonResponse(["status": "ready"])
            } catch {
                env.logger.warning("readiness check failed", metadata: ["error": "\(error)"])
                return try jsonResponse(["status": "not_ready"], status: .serviceUnavailable)
            }
        }
        table.add(.get, "/api/v1/readiness", .roles([.ops])) { _, _ in
            do {
                try await env.store.checkReady()
                var body = try await env.store.pragmas()
                body["status"] = "ready"
                body["schema_version"] = String(SQLStore.latestSchemaVersion)
                return try jsonResponse(body)
            } catch {
                return try jsonResponse(["status": "not_ready", "reason": "\(error)"], status: .serviceUnavailable)
            }
        }
        table.add(.get, "/metrics", .open) { _, _ in
            var buffer: [UInt8] = []
            env.metrics.emit(into: &buffer)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }

    // MARK: - Sign in with a token; a session cookie follows

    static func signIn(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/login", .open, page: true) { request, _ in
            let next = request.uri.queryParameters["next"].map(String.init) ?? ""
            return HTML.response(loginPage(next: next, error: nil))
        }
        table.add(.post, "/login", .open, page: true) { request, _ in
            let body = try await request.body.collect(upTo: 16 * 1024)
            let form = FormFields.parse(String(buffer: body))
            let secret = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty, let token = try await env.store.token(hash: Credentials.hash(secret), now: env.now()) else {
                env.logger.notice("sign-in refused", metadata: ["event": "security.login_failed"])
                return HTML.response(loginPage(next: form["next"] ?? "", error: "That token was not recognised. Check it, or ask ops for a new one."), status: .unauthorized)
            }
            let session = Credentials.newSecret(prefix: "s")
            let now = env.now()
            let lifetime = env.configuration.settings.sessionLifetime.seconds
            try await env.store.insertSession(hash: Credentials.hash(session), tokenID: token.id, now: now,
                                              expiresAt: now.addingTimeInterval(TimeInterval(lifetime)))
            let home = token.role == .clinician ? "/clinician/people" : "/ops"
            let next = RequestSafety.sameSitePath(form["next"], fallback: home)
            var response = Response.redirect(to: next, type: .found)
            response.setCookie(Cookie(name: Authenticator.cookieName(publicURL: env.configuration.settings.publicURL), value: session, maxAge: Int(lifetime), path: "/",
                                      secure: env.configuration.settings.publicURL.hasPrefix("https:"), httpOnly: true, sameSite: .strict))
            return response
        }
        table.add(.post, "/logout", .open, page: true) { request, _ in
            // Signing someone out from another site is a nuisance attack: the same origin check as every cookie POST.
            guard Authenticator.isSameOrigin(request, publicURL: env.configuration.settings.publicURL) else {
                throw APIError(status: .forbidden, code: "cross_origin", message: "form posts must come from this service's own pages")
            }
            let name = Authenticator.cookieName(publicURL: env.configuration.settings.publicURL)
            if let cookie = request.cookies[name]?.value {
                try await env.store.deleteSession(hash: Credentials.hash(cookie))
            }
            var response = Response.redirect(to: "/login", type: .found)
            response.setCookie(Cookie(name: name, value: "", maxAge: 0, path: "/", secure: name == Authenticator.secureCookieName, httpOnly: true, sameSite: .strict))
            return response
        }
    }

    static func loginPage(next: String, error: String?) -> String {
        HTML.page(title: "Sign in", body: """
        <h1>Sign in</h1>
        \(error.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "")
        <form method="post" action="/login">
        <input type="hidden" name="next" value="\(HTML.escape(next))">
        <label for="token">Access token</label>
        <input type="password" id="token" name="token" autocomplete="off" required>
        <button type="submit">Sign in</button>
        </form>
        <p class="muted">Tokens are created by ops staff with <code>rom tokens create --role clinician --team TEAM</code>.</p>
        """)
    }
}

/// Headers on every response: no MIME sniffing, no framing, and HSTS when the service is reached over https.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = ROMRequestContext
    let https: Bool

    func handle(_ request: Request, context: ROMRequestContext, next: (Request, ROMRequestContext) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Error answers (401, 404, 429 …) carry the same headers.
            response = try error.response(from: request, context: context)
        }
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = "frame-ancestors 'none'" }
        if https { response.headers[HTTPField.Name("Strict-Transport-Security")!] = "max-age=31536000; includeSubDomains" }
        return response
    }
}

/// Counts requests by route and status, without any personal data in labels.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = ROMRequestContext
    let registry: PrometheusCollectorRegistry

    func handle(_ request: Request, context: ROMRequestContext, next: (Request, ROMRequestContext) async throws -> Response) async throws -> Response {
        let route = context.endpointPath ?? "unmatched"
        do {
            let response = try await next(request, context)
            registry.makeCounter(descriptor: Metrics.httpRequests, labels: [("route", route), ("status", String(response.status.code))]).increment()
            return response
        } catch let error as any HTTPResponseError {
            registry.makeCounter(descriptor: Metrics.httpRequests, labels: [("route", route), ("status", String(error.status.code))]).increment()
            throw error
        } catch {
            registry.makeCounter(descriptor: Metrics.httpRequests, labels: [("route", route), ("status", "500")]).increment()
            throw error
        }
    }
}
