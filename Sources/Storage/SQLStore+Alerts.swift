public import Foundation
import SQLKit

/// The content of an outbox row that is not a prompt (an SMS auto-reply, a team alert): written when queued,
/// so the dispatcher sends exactly what was decided, to whom it was decided.
public struct DirectMessage: Sendable, Equatable, Codable {
    /// Set for team alerts; auto-replies go to the person's current address, so erasure and opt-out still hold.
    public var recipient: String?
    public var subject: String?
    public var text: String

    public init(recipient: String?, subject: String?, text: String) {
        self.recipient = recipient
        self.subject = subject
        self.text = text
    }

    public func encoded() -> String {
        (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "{}"
    }

    public static func decode(_ text: String) -> DirectMessage? {
        try? JSONDecoder().decode(DirectMessage.self, from: Data(text.utf8))
    }
}

/// Where one team's urgent flags go, and who hears when nobody acknowledges them in time.
public struct TeamAlertRoute: Sendable, Equatable {
    public var channel: String
    public var gateway: String
    public var address: String
    public var escalationAddress: String?
    public var escalateAfter: TimeInterval?

    public init(channel: String, gateway: String, address: String, escalationAddress: String?, escalateAfter: TimeInterval?) {
        self.channel = channel
        self.gateway = gateway
        self.address = address
        self.escalationAddress = escalationAddress
        self.escalateAfter = escalateAfter
    }
}

/// Purposes of outbox rows.
public enum OutboxPurpose {
    public static let prompt = "prompt"
    /// An SMS reply to a person's own message (help text, how to answer).
    public static let reply = "reply"
    /// An urgent flag told to the person's team.
    public static let teamAlert = "team_alert"
    /// The same flag, unacknowledged, told to the escalation address.
    public static let escalation = "escalation"
    /// Purposes whose content was decided when queued (the rest — prompts and reminders — are composed at send time).
    public static let direct: Set<String> = [reply, teamAlert, escalation]
    /// Messages to staff, not to the person: outside the person's daily cap, opt-outs and erasure.
    public static let staff: Set<String> = [teamAlert, escalation]
}

extension SQLStore {
    /// Queues an auto-reply to a person's SMS, keyed by the reply it answers (so reprocessing never sends it twice).
    /// `kind` limits repeats: at most one reply of a kind per person per `within` (an auto-responder cannot start a loop).
    /// Returns whether a reply was queued. Runs inside `finishReply`'s transaction.
    static func queueReply(_ db: any SQLDatabase, personID: String, replyID: String, _ reply: AutoReply, now: Date) async throws -> Bool {
        let stamp = now.millis
        let recent = try await db.raw("""
            SELECT 1 AS hit FROM outbox_messages WHERE person_id = \(bind: personID) AND purpose = 'reply'
            AND idempotency_key LIKE \(bind: "reply:\(reply.kind):%") AND created_at_ms > \(bind: stamp - Int64(reply.within * 1000)) LIMIT 1
            """).first()
        guard recent == nil else { return false }
        try await enqueue(db, personID: personID, purpose: OutboxPurpose.reply, channel: reply.channel, gateway: reply.gateway,
                          dueAt: stamp, key: "reply:\(reply.kind):\(replyID)", payload: DirectMessage(recipient: nil, subject: nil, text: reply.text).encoded(),
                          now: stamp)
        return true
    }
}

/// An automatic answer to a reply (help text, how to answer): at most one of its kind per person within `within` seconds.
public struct AutoReply: Sendable {
    public var kind: String
    public var channel: String
    public var gateway: String
    public var text: String
    public var within: TimeInterval

    public init(kind: String, channel: String, gateway: String, text: String, within: TimeInterval) {
        self.kind = kind
        self.channel = channel
        self.gateway = gateway
        self.text = text
        self.within = within
    }
}

extension SQLStore {

    /// Queues a team alert for every urgent flag not yet alerted, and an escalation for every urgent flag still open
    /// (not acknowledged) past its team's escalation time. Flags are durable before this runs, so a stop in between only
    /// delays an alert; keys make a repeat a no-op. `message` gives (subject, text) for a flag id and whether it escalates.
    public func queueFlagAlerts(routes: [String: TeamAlertRoute], message: (String, Bool) -> (subject: String, text: String),
                                now: Date) async throws -> (alerts: Int, escalations: Int) {
        guard !routes.isEmpty else { return (0, 0) }
        let stamp = now.millis
        let pending = try await read { db in
            try await db.raw("""
                SELECT f.id, f.person_id, p.team, f.status, f.raised_at_ms, f.alerted_at_ms FROM flags f JOIN people p ON p.id = f.person_id
                WHERE f.severity = 'urgent' AND ((f.status IN ('open', 'acknowledged', 'actioned') AND f.alerted_at_ms IS NULL)
                                              OR (f.status = 'open' AND f.escalated_at_ms IS NULL))
                ORDER BY f.raised_at_ms, f.id
                """).all().map {
                (id: try $0.decode(column: "id", as: String.self), person: try $0.decode(column: "person_id", as: String.self),
                 team: try $0.decode(column: "team", as: String.self), status: try $0.decode(column: "status", as: String.self),
                 raised: try $0.decode(column: "raised_at_ms", as: Int64.self), alerted: try $0.decode(column: "alerted_at_ms", as: Int64?.self))
            }
        }
        var alerts = 0, escalations = 0
        for flag in pending {
            guard let route = routes[flag.team] ?? routes["default"] else { continue }
            if flag.alerted == nil {
                let (subject, text) = message(flag.id, false)
                try await transaction { db in
                    try await Self.enqueue(db, personID: flag.person, purpose: OutboxPurpose.teamAlert, channel: route.channel,
                                           gateway: route.gateway, dueAt: stamp, key: "alert:\(flag.id)",
                                           payload: DirectMessage(recipient: route.address, subject: subject, text: text).encoded(), now: stamp)
                    try await db.raw("UPDATE flags SET alerted_at_ms = \(bind: stamp) WHERE id = \(bind: flag.id) AND alerted_at_ms IS NULL").run()
                }
                alerts += 1
            }
            if flag.status == "open", let address = route.escalationAddress, let after = route.escalateAfter,
               flag.raised + Int64(after * 1000) <= stamp {
                let (subject, text) = message(flag.id, true)
                let queued = try await transaction { db -> Bool in
                    // Re-checked inside the transaction: an acknowledgement that landed meanwhile stops the escalation.
                    let still = try await db.raw("""
                        UPDATE flags SET escalated_at_ms = \(bind: stamp) WHERE id = \(bind: flag.id) AND status = 'open' AND escalated_at_ms IS NULL RETURNING id
                        """).first()
                    guard still != nil else { return false }
                    try await Self.enqueue(db, personID: flag.person, purpose: OutboxPurpose.escalation, channel: route.channel,
                                           gateway: route.gateway, dueAt: stamp, key: "escalation:\(flag.id)",
                                           payload: DirectMessage(recipient: address, subject: subject, text: text).encoded(), now: stamp)
                    return true
                }
                if queued { escalations += 1 }
            }
        }
        return (alerts, escalations)
    }
}

extension SQLStore {
    /// Escalates at once the urgent flags whose team alert dead-lettered and that nobody has acknowledged: the
    /// escalation address of the flag's team route hears now rather than after `after`. Returns how many were queued.
    public func escalateUndeliverable(flagIDs: [String], routes: [String: TeamAlertRoute], message: (String, Bool) -> (subject: String, text: String),
                                      now: Date) async throws -> Int {
        let stamp = now.millis
        var queued = 0
        for flagID in flagIDs {
            guard let row = try await read({ db in
                try await db.raw("SELECT f.person_id, p.team FROM flags f JOIN people p ON p.id = f.person_id WHERE f.id = \(bind: flagID)").first()
            }) else { continue }
            let person = try row.decode(column: "person_id", as: String.self)
            let team = try row.decode(column: "team", as: String.self)
            guard let route = routes[team] ?? routes["default"], let address = route.escalationAddress else { continue }
            let (subject, text) = message(flagID, true)
            let done = try await transaction { db -> Bool in
                let still = try await db.raw("""
                    UPDATE flags SET escalated_at_ms = \(bind: stamp) WHERE id = \(bind: flagID) AND status = 'open' AND escalated_at_ms IS NULL RETURNING id
                    """).first()
                guard still != nil else { return false }
                try await Self.enqueue(db, personID: person, purpose: OutboxPurpose.escalation, channel: route.channel,
                                       gateway: route.gateway, dueAt: stamp, key: "escalation:\(flagID)",
                                       payload: DirectMessage(recipient: address, subject: subject, text: text).encoded(), now: stamp)
                return true
            }
            if done { queued += 1 }
        }
        return queued
    }
}

extension SQLStore {
    /// Gives each prompt a reply code (`P1`, `P2`, … per person, never reused) unless it has one, and returns the codes
    /// in the order of `promptIDs`. Runs before the SMS that shows the codes is sent.
    public func assignReplyCodes(personID: String, promptIDs: [String]) async throws -> [String] {
        try await transaction { db in
            var codes: [String] = []
            var next = try await db.raw("""
                SELECT COALESCE(MAX(CAST(SUBSTR(reply_code, 2) AS INTEGER)), 0) AS n FROM prompts WHERE person_id = \(bind: personID) AND reply_code IS NOT NULL
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            for id in promptIDs {
                if let code = try await db.raw("SELECT reply_code FROM prompts WHERE id = \(bind: id)").first()?.decode(column: "reply_code", as: String?.self) {
                    codes.append(code)
                    continue
                }
                next += 1
                try await db.raw("UPDATE prompts SET reply_code = \(bind: "P\(next)") WHERE id = \(bind: id) AND person_id = \(bind: personID)").run()
                codes.append("P\(next)")
            }
            return codes
        }
    }
}
