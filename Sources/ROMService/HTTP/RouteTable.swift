public import Hummingbird
import HTTPTypes
import Synchronization
public import Storage

/// Who may call a route.
public enum Access: Sendable, Equatable {
    /// Health, metrics, sign-in, inbound provider webhooks and check-in links.
    case open
    /// A staff or system token with one of these roles.
    case roles(Set<Role>)
}

/// One route and the access it needs; the table is the only way routes reach the router,
/// so a test can walk every route and check its guard.
public struct RouteEntry: Sendable {
    public var method: HTTPRequest.Method
    public var path: String
    public var access: Access
    /// Browser pages redirect a signed-out caller to the sign-in page; APIs answer 401.
    public var isPage: Bool
    let handler: @Sendable (Request, ROMRequestContext) async throws -> Response
}

/// The service's routes with their guards.
public struct RouteTable: Sendable {
    public private(set) var entries: [RouteEntry] = []

    mutating func add(_ method: HTTPRequest.Method, _ path: String, _ access: Access, page: Bool = false,
                      _ handler: @escaping @Sendable (Request, ROMRequestContext) async throws -> Response) {
        entries.append(RouteEntry(method: method, path: path, access: access, isPage: page, handler: handler))
    }

    /// Routes outside the failure limit: probes and metrics carry no credentials.
    static let unlimited: Set<String> = ["/healthz", "/readyz", "/metrics"]

    /// Provider webhooks are never limited by address: providers send from shared egress addresses, so anyone
    /// pointing their own provider account at us with the wrong secret would otherwise lock out our real inbound
    /// SMS, STOPs and risk replies. Their bad signatures are security events (logged with a hash of the source and
    /// counted in `rom_security_events_total`), not limiter failures.
    static func isLimited(_ path: String) -> Bool {
        !unlimited.contains(path) && !path.hasPrefix("/inbound/") && !path.hasPrefix("/callbacks/")
    }

    /// Registers every entry on `router`, each behind the per-source failure limit and then its access check.
    func install(on router: Router<ROMRequestContext>, guard authenticator: Authenticator, limiter: FailureLimiter, trustedProxies: Set<String> = []) {
        for entry in entries {
            let handler = entry.handler
            let access = entry.access
            let isPage = entry.isPage
            let limited = Self.isLimited(entry.path)
            router.on(RouterPath(entry.path), method: entry.method) { request, context in
                guard limited else { return try await Self.serve(request, context, access, isPage, authenticator, handler) }
                let source = RequestSafety.clientAddress(peer: context.remoteIP, forwardedFor: request.headers[HTTPField.Name("X-Forwarded-For")!],
                                                         trustedProxies: trustedProxies) ?? "local"
                let now = authenticator.now()
                // Checked before any credential is looked at, so guessing stops costing us database reads.
                if let wait = limiter.retryAfter(source, now: now) {
                    throw APIError(status: .tooManyRequests, code: "too_many_failures",
                                   message: "too many failed attempts from this address; try again in \(wait) seconds", retryAfter: wait)
                }
                do {
                    let response = try await Self.serve(request, context, access, isPage, authenticator, handler)
                    // 401: a refused token, sign-in or signature; 410: an unknown or ended check-in link.
                    if response.status == .unauthorized || response.status == .gone { limiter.recordFailure(source, now: now) }
                    return response
                } catch let error as APIError where error.status == .unauthorized {
                    limiter.recordFailure(source, now: now)
                    throw error
                }
            }
        }
    }

    /// The access check, then the handler.
    private static func serve(_ request: Request, _ context: ROMRequestContext, _ access: Access, _ isPage: Bool, _ authenticator: Authenticator,
                              _ handler: @Sendable (Request, ROMRequestContext) async throws -> Response) async throws -> Response {
        guard case .roles(let roles) = access else { return try await handler(request, context) }
        var context = context
        switch await authenticator.authenticate(request) {
        case .none:
            if isPage && request.headers[.authorization] == nil { return Response.redirect(to: "/login?next=\(request.uri.path)", type: .found) }
            throw APIError(status: .unauthorized, code: "unauthenticated",
                           message: "this route needs a bearer token (Authorization: Bearer …); create one with `rom tokens create`")
        case .some(let (token, viaSession)):
            guard roles.contains(token.role) else {
                throw APIError(status: .forbidden, code: "forbidden",
                               message: "a \(token.role.rawValue) token cannot use this route; it needs \(roles.map(\.rawValue).sorted().joined(separator: " or "))")
            }
            if viaSession && request.method != .get && request.method != .head && !authenticator.isSameOrigin(request) {
                throw APIError(status: .forbidden, code: "cross_origin", message: "form posts must come from this service's own pages")
            }
            context.identity = token
            context.viaSession = viaSession
            return try await handler(request, context)
        }
    }
}

/// Resolves a request's bearer token or session cookie to a stored token.
public struct Authenticator: Sendable {
    let store: SQLStore
    let now: @Sendable () -> Foundation.Date
    let publicURL: String

    static let cookieName = "rom_session"
    /// Over https the session cookie carries the `__Host-` prefix: browsers then insist on Secure, Path=/ and no
    /// Domain, so no other host (a sibling subdomain included) can set or overwrite it.
    static let secureCookieName = "__Host-rom_session"

    static func cookieName(publicURL: String) -> String { publicURL.hasPrefix("https:") ? secureCookieName : cookieName }
    /// When each token's use was last written, so that a busy integration writes `last_used` once a minute, not per request.
    let lastTouched = LastTouched()

    final class LastTouched: Sendable {
        let times = Mutex<[String: Foundation.Date]>([:])
    }

    func touch(_ token: APIToken) async {
        let now = now()
        let due = lastTouched.times.withLock { times -> Bool in
            if let last = times[token.id], now.timeIntervalSince(last) < 60 { return false }
            times[token.id] = now
            return true
        }
        if due { try? await store.touchToken(id: token.id, now: now) }
    }

    func authenticate(_ request: Request) async -> (APIToken, Bool)? {
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
            guard let token = try? await store.token(hash: Credentials.hash(secret), now: now()) else { return nil }
            await touch(token)
            return (token, false)
        }
        if let cookie = request.cookies[Self.cookieName(publicURL: publicURL)]?.value, !cookie.isEmpty {
            guard let token = try? await store.sessionToken(hash: Credentials.hash(cookie), now: now()) else { return nil }
            await touch(token)
            return (token, true)
        }
        return nil
    }

    func isSameOrigin(_ request: Request) -> Bool { Self.isSameOrigin(request, publicURL: publicURL) }

    /// A cookie-authenticated POST must carry an `Origin` of this service, or — when a browser sends none — a
    /// `Referer` on it. Neither means the request did not come from our own pages: refused.
    static func isSameOrigin(_ request: Request, publicURL: String) -> Bool {
        let expected = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        let host = request.head.authority
        func ours(_ origin: String) -> Bool { origin == expected || (host.map { origin.hasSuffix("://\($0)") } ?? false) }
        if let origin = request.headers[.origin] { return origin != "null" && ours(origin) }
        guard let referer = request.headers[.referer], let components = URLComponents(string: referer), let scheme = components.scheme,
              let refererHost = components.host else { return false }
        return ours("\(scheme)://\(refererHost)\(components.port.map { ":\($0)" } ?? "")")
    }
}

import Foundation
