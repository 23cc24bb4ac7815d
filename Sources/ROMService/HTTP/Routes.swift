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
        accounts(&table, env)
        people(&table, env)
        reviews(&table, env)
        delivery(&table, env)
        checkin(&table, env)
        responses(&table, env)
        fhir(&table, env)
        inboundSMS(&table, env)
        inboundEmail(&table, env)
        flags(&table, env)
        inbox(&table, env)
        ops(&table, env)
        operations(&table, env)
        clinician(&table, env)
        reviewPacks(&table, env)
        reports(&table, env)
        return table
    }

    public static func router(_ env: ServiceEnvironment) -> Router<ROMRequestContext> {
        let router = Router(context: ROMRequestContext.self)
        let authenticator = Authenticator(store: env.store, now: env.now, publicURL: env.configuration.settings.publicURL,
                                          sessionIdle: TimeInterval(env.configuration.settings.sessionIdle.seconds))
        router.add(middleware: RequestMetricsMiddleware(registry: env.metrics))
        router.add(middleware: SecurityHeadersMiddleware(https: env.configuration.settings.publicURL.hasPrefix("https:"),
                                                         crisisText: env.configuration.settings.crisisText))
        table(env).install(on: router, guard: authenticator, limiter: env.failureLimiter, trustedProxies: env.configuration.settings.trustedProxies)
        return router
    }

    // MARK: - Health and metrics

    static func health(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/", .open, page: true) { _, _ in
            HTML.response(HTML.page(title: "Routine outcome monitoring", body: """
            <h1>rom</h1><p>Brief outcome ratings before each review, scored and flagged for the clinician.</p>
            <ul><li><a href="/login">Sign in</a> (clinicians and ops staff: an account from <code>rom users create</code>, with its authenticator code)</li>
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
                var response = try jsonResponse(["status": "not_ready"], status: .serviceUnavailable)
                response.headers[.retryAfter] = String(SecurityHeadersMiddleware.unavailableRetryAfter)
                return response
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
        // The API contract, for generating clients and for conformance tools.
        table.add(.get, "/api/v1/openapi.json", .open) { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "public, max-age=300"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: APIDocument.json)))
        }
        table.add(.get, "/metrics", .open) { _, _ in
            var buffer: [UInt8] = []
            env.metrics.emit(into: &buffer)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}

/// Headers on every response: no MIME sniffing, no framing, and HSTS when the service is reached over https.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = ROMRequestContext
    let https: Bool
    /// Said on the page a person sees while the database is unreachable.
    let crisisText: String

    func handle(_ request: Request, context: ROMRequestContext, next: (Request, ROMRequestContext) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            // Error answers (401, 404, 429 …) carry the same headers.
            response = try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            // The framework's own refusals (a body over a route's limit, an unknown path) as problem details too.
            response = try APIError(status: error.status, code: Self.code(error.status), message: (error as? HTTPError)?.body ?? Self.describe(error.status),
                                    headers: (error as? HTTPError)?.headers ?? [:]).response(from: request, context: context)
        } catch StoreError.unavailable {
            response = try databaseUnavailable(request, context: context)
        }
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = "frame-ancestors 'none'" }
        if https { response.headers[HTTPField.Name("Strict-Transport-Security")!] = "max-age=31536000; includeSubDomains" }
        return response
    }
}

extension SecurityHeadersMiddleware {
    static func code(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .contentTooLarge: return "too_large"
        case .notFound: return "not_found"
        case .methodNotAllowed: return "method_not_allowed"
        case .badRequest: return "bad_request"
        default: return "http_\(status.code)"
        }
    }

    static func describe(_ status: HTTPResponse.Status) -> String {
        switch status {
        case .contentTooLarge: return "the body is larger than this route takes"
        case .notFound: return "no such route; see /api/v1/openapi.json"
        case .methodNotAllowed: return "this route does not take that method; see /api/v1/openapi.json"
        default: return status.reasonPhrase
        }
    }

    /// Seconds a caller is asked to wait while the database is unreachable.
    static let unavailableRetryAfter = 5

    /// 503 with Retry-After while the database is unreachable: providers retry their webhooks, API clients back off,
    /// and a person on a page is told their answers were not taken and to send them again shortly.
    func databaseUnavailable(_ request: Request, context: ROMRequestContext) throws -> Response {
        let unavailableRetryAfter = Self.unavailableRetryAfter
        if request.headers[.accept]?.contains("text/html") == true {
            var response = HTML.response(HTML.page(title: "Please try again shortly", body: """
            <h1>Please try again in a few minutes</h1>
            <p>We cannot save anything just now, so what you sent has not been received. Go back and send it again in a few minutes.</p>
            <p>\(HTML.escape(crisisText))</p>
            """), status: .serviceUnavailable)
            response.headers[.retryAfter] = String(unavailableRetryAfter)
            response.headers[.cacheControl] = "no-store"
            return response
        }
        return try APIError(status: .serviceUnavailable, code: "database_unavailable",
                            message: "the service cannot reach its database; nothing was stored — try again in a few seconds",
                            retryAfter: unavailableRetryAfter).response(from: request, context: context)
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
