import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import Storage
import Testing

/// Every guarded route walked again with each kind of credential a caller can hold: signed-in staff sessions,
/// a session that has passed only the password step, expired and revoked tokens, and — on every person-scoped
/// route — a clinician of another team.
@Suite("Access walk", .serialized)
struct AccessWalkTests {
    static let origin = "http://127.0.0.1:8080"

    /// The status, with a redirect to the sign-in page told apart (`.found` from a signed-in POST is its page's next step).
    func call(_ client: some TestClientProtocol, _ entry: RouteEntry, _ uri: String, cookie: String? = nil, bearer: String? = nil) async throws -> HTTPResponse.Status {
        var headers: HTTPFields = [.origin: Self.origin, .contentType: "application/json"]
        if let cookie { headers[.cookie] = cookie }
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        let response = try await client.execute(uri: uri, method: entry.method, headers: headers, body: ByteBuffer(string: ""))
        if response.status == .found, response.headers[.location]?.hasPrefix("/login") == true { return Self.toSignIn }
        return response.status
    }

    /// Stands for "redirected to /login".
    static let toSignIn = HTTPResponse.Status(code: 399, reasonPhrase: "to sign-in")

    func concrete(_ path: String, person: String, flag: String, item: String, review: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for index in parts.indices where parts[index].hasPrefix(":") {
            let owner = index > 0 ? parts[index - 1] : ""
            parts[index] = parts[index] == ":review" ? review : owner == "flags" ? flag : owner == "inbox" ? item : owner == "users" ? "u_nobody" : person
        }
        return parts.joined(separator: "/")
    }

    /// Routes about one person: by the person's id, or by one of their flags or inbox items.
    static func isPersonScoped(_ path: String) -> Bool {
        path.contains("/people/:id") || path.contains("/flags/:id") || path.contains("/inbox/:id")
    }

    @Test("Staff sessions get exactly their role's routes; a password-only session, an expired and a revoked token get none; a clinician of another team gets 404 on every person-scoped route")
    func walk() async throws {
        // The walk makes hundreds of refused attempts from one address on purpose: lift the failure limit for it.
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true, failedAttempts: 100_000)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let env = harness.env
        let now = harness.clock.now
        // A flag and an inbox item of p1's (north): a risk phrase by SMS raises both.
        let pairs = [("MessageSid", "SM1"), ("From", "+447700900001"), ("Body", "I can't do this any more")]
        let smsHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded",
                                      HTTPField.Name("X-Twilio-Signature")!: TwilioSignature.expected(url: "\(Self.origin)/inbound/sms/test-sms", parameters: pairs, authToken: "12345")]
        let smsBody = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")

        let sessions: [Role: String] = [
            .ops: try await Fixtures.staffSession(env.store, role: .ops, team: nil, now: now),
            .clinician: try await Fixtures.staffSession(env.store, role: .clinician, team: "north", now: now),
        ]
        let otherTeam = try await Fixtures.staffSession(env.store, role: .clinician, team: "south", now: now)
        // Passed the password step, not the code: a real pending session of a real account.
        let account = try await Fixtures.staffAccount(env.store, email: "half@example.org", role: .ops, team: nil, password: "plum orbit lantern 42", now: now)
        let pendingSecret = Credentials.newSecret(prefix: "s")
        try await env.store.insertSession(hash: Credentials.hash(pendingSecret), userID: account.id, stage: .password, next: nil, now: now,
                                          expiresAt: now.addingTimeInterval(300))
        let pending = "rom_session=\(pendingSecret)"
        let expired = Credentials.newSecret(prefix: "rom_ops")
        try await env.store.insertToken(id: "t_expired", hash: Credentials.hash(expired), role: .ops, team: nil, label: nil,
                                        expiresAt: now.addingTimeInterval(-1), now: now.addingTimeInterval(-86_400))
        let revoked = Credentials.newSecret(prefix: "rom_ops")
        try await env.store.insertToken(id: "t_revoked", hash: Credentials.hash(revoked), role: .ops, team: nil, label: nil, now: now)
        #expect(try await env.store.revokeToken(id: "t_revoked", now: now))
        let ops = Credentials.newSecret(prefix: "rom_ops")
        try await env.store.insertToken(id: "t_ops", hash: Credentials.hash(ops), role: .ops, team: nil, label: nil, now: now)

        let table = Routes.table(env)
        try await Application(router: Routes.router(env)).test(.router) { client in
            #expect(try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: smsHeaders, body: ByteBuffer(string: smsBody)).status == .ok)
            await env.background.drain()
            let flag = try #require(try await env.store.flags(team: "north", openOnly: true).first?.id)
            let item = try #require(try await env.store.inboxItems(team: "north").first?.id)
            let booked = try await client.execute(uri: "/api/v1/people/p1/reviews", method: .post,
                                                  headers: [.authorization: "Bearer \(ops)", .contentType: "application/json"],
                                                  body: ByteBuffer(string: #"{"at": "2026-12-14"}"#))
            #expect(booked.status == .created)
            let review = try #require((try JSONSerialization.jsonObject(with: Data(String(buffer: booked.body).utf8)) as? [String: Any])?["id"] as? String)

            var personScoped = 0
            for entry in table.entries {
                guard case .roles(let roles) = entry.access else { continue }
                let name = "\(entry.method) \(entry.path)"
                let uri = concrete(entry.path, person: "p1", flag: flag, item: item, review: review)
                #expect(try await call(client, entry, uri, cookie: pending) == (entry.isPage ? Self.toSignIn : .unauthorized), "\(name): a password-only session is not signed in")
                #expect(try await call(client, entry, uri, bearer: expired) == .unauthorized, "\(name): an expired token")
                #expect(try await call(client, entry, uri, bearer: revoked) == .unauthorized, "\(name): a revoked token")
                // The other team first, so nothing the own team does (acknowledging, resolving) hides a leak.
                if Self.isPersonScoped(entry.path) && roles.contains(.clinician) {
                    personScoped += 1
                    #expect(try await call(client, entry, uri, cookie: otherTeam) == .notFound, "\(name): a south clinician reached a north person")
                    let own = try await call(client, entry, uri, cookie: sessions[.clinician])
                    #expect(own != .notFound && own != .forbidden && own != .unauthorized && own != Self.toSignIn, "\(name): the person's own team was refused (\(own))")
                }
                for (role, cookie) in sessions {
                    let status = try await call(client, entry, uri, cookie: cookie)
                    if roles.contains(role) {
                        #expect(status != .unauthorized && status != .forbidden && status != Self.toSignIn, "\(name) refused a signed-in \(role) (\(status))")
                    } else {
                        #expect(status == .forbidden, "\(name) let a signed-in \(role) in (\(status))")
                    }
                }
            }
            #expect(personScoped >= 10, "review pack, notes, goals, mode, reviews, flags and inbox routes were all walked (\(personScoped))")
        }
        await harness.close()
    }
}
