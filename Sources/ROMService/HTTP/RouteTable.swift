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
    ///
    /// Staff sign-in keys its own limits on what is being guessed: an account's password or code is held back per
    /// account (`StaffAuth.lockedUntil`), and only attempts at unknown accounts count against the address.
    static func isLimited(_ path: String) -> Bool {
        !unlimited.contains(path) && !selfLimited.contains(path) && !path.hasPrefix("/inbound/") && !path.hasPrefix("/callbacks/")
    }

    static let selfLimited: Set<String> = ["/login", "/login/code"]

    /// Registers every entry on `router`, each behind the per-source failure limit and then its access check.
    func install(on router: Router<ROMRequestContext>, guard authenticator: Authenticator, limiter: FailureLimiter, trustedProxies: Set<String> = []) {
        for entry in entries {
            let handler = entry.handler
            let access = entry.access
            let isPage = entry.isPage
            let limited = Self.isLimited(entry.path)
            router.on(RouterPath(entry.path), method: entry.method) { request, context in
                var context = context
                let source = RequestSafety.clientAddress(peer: context.remoteIP, forwardedFor: request.headers[HTTPField.Name("X-Forwarded-For")!],
                                                         trustedProxies: trustedProxies) ?? "local"
                context.clientAddress = source
                guard limited else { return try await Self.serve(request, context, access, isPage, authenticator, handler) }
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
        switch try await authenticator.authenticate(request) {
        case .none:
            if isPage && request.headers[.authorization] == nil { return Response.redirect(to: "/login?next=\(request.uri.path)", type: .found) }
            throw APIError(status: .unauthorized, code: "unauthenticated",
                           message: "this route needs a bearer token (Authorization: Bearer …; create one with `rom tokens create`) or a signed-in session")
        case .some(let (caller, viaSession)):
            guard roles.contains(caller.role) else {
                throw APIError(status: .forbidden, code: "forbidden",
                               message: "a \(caller.role.rawValue) \(viaSession ? "account" : "token") cannot use this route; it needs \(roles.map(\.rawValue).sorted().joined(separator: " or "))")
            }
            if viaSession && request.method != .get && request.method != .head && !authenticator.isSameOrigin(request) {
                throw APIError(status: .forbidden, code: "cross_origin", message: "form posts must come from this service's own pages")
            }
            context.identity = caller
            context.viaSession = viaSession
            return try await handler(request, context)
        }
    }
}

/// Resolves a request's bearer token, or its session cookie of a fully signed-in account, to a caller.
public struct Authenticator: Sendable {
    let store: SQLStore
    let now: @Sendable () -> Foundation.Date
    let publicURL: String
    /// A session unused for this long has ended (`sessions.idle`).
    let sessionIdle: TimeInterval

    static let cookieName = "rom_session"
    /// Over https the session cookie carries the `__Host-` prefix: browsers then insist on Secure, Path=/ and no
    /// Domain, so no other host (a sibling subdomain included) can set or overwrite it.
    static let secureCookieName = "__Host-rom_session"

    static func cookieName(publicURL: String) -> String { publicURL.hasPrefix("https:") ? secureCookieName : cookieName }
    /// When each token's or session's use was last written, so that a busy caller writes it once a minute, not per request.
    let lastTouched = LastTouched()

    final class LastTouched: Sendable {
        let times = Mutex<[String: Foundation.Date]>([:])

        /// True when `key` was not written within the last minute (and marks it written now).
        func due(_ key: String, now: Foundation.Date) -> Bool {
            times.withLock { times in
                if let last = times[key], now.timeIntervalSince(last) < 60 { return false }
                if times.count > 50_000 { times = times.filter { now.timeIntervalSince($0.value) < 60 } }
                times[key] = now
                return true
            }
        }
    }

    /// The caller, or nil for no or a refused credential; throws only when the database cannot be reached, so an
    /// outage answers 503 instead of signing everyone out (and counting their requests as failures).
    func authenticate(_ request: Request) async throws -> (Caller, Bool)? {
        let now = now()
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
            guard let token = try await Self.unlessUnavailable({ try await store.token(hash: Credentials.hash(secret), now: now) }) else { return nil }
            if lastTouched.due(token.id, now: now) { try? await store.touchToken(id: token.id, now: now) }
            return (Caller(role: token.role, team: token.team, credential: .token(id: token.id)), false)
        }
        if let cookie = request.cookies[Self.cookieName(publicURL: publicURL)]?.value, !cookie.isEmpty {
            // A session that has passed only the password step opens nothing but the code form.
            guard let (session, user) = try await Self.unlessUnavailable({ try await store.session(hash: Credentials.hash(cookie), idle: sessionIdle, now: now) }),
                  session.stage == .signedIn else { return nil }
            if lastTouched.due(session.id, now: now) { try? await store.touchSession(id: session.id, now: now) }
            return (Caller(role: user.role, team: user.team, credential: .user(id: user.id, email: user.email)), true)
        }
        return nil
    }

    /// `lookup`'s answer, nil when it fails (an unknown or unreadable credential), rethrowing only an outage.
    static func unlessUnavailable<T>(_ lookup: () async throws -> T?) async throws -> T? {
        do {
            return try await lookup()
        } catch let error as StoreError {
            if case .unavailable = error { throw error }
            return nil
        } catch {
            return nil
        }
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
