public import Foundation
public import Intake
import SQLKit

/// A quarantined reply waiting for a person in the team inbox.
public struct InboxItem: Sendable, Equatable {
    public var id: String
    /// `sms`, `email`, `form`, `api`, `paper`.
    public var channel: String
    public var gateway: String
    public var receivedAt: Date
    public var personID: String?
    public var team: String?
    public var reason: String?
    /// `quarantined` until someone acts; then `processed` with how it was handled.
    public var status: String
    public var rawBody: [UInt8]
    public var contentType: String
    public var handledBy: String?
    public var handledNote: String?
    public var handledAt: Date?
    /// The reply raised an urgent flag (a risk phrase, a risk answer): the team was alerted already.
    public var urgentFlag: Bool
}

/// How a person resolved an inbox item.
public enum InboxResolution: Sendable, Equatable {
    /// Scored against a prompt (or kept as a response): the answers to store.
    case matched([CheckinAnswer])
    /// Recorded as an opt-out of the reply's channel.
    case optOut(channel: String)
    /// Read and dealt with outside rom; the note says how.
    case handled
}

extension SQLStore {
    /// Quarantined replies, oldest first: one team's (and never those of unknown senders), or every team's when
    /// `team` is nil. `includeHandled` adds the ones already dealt with.
    /// `after` continues after that item (a page's last).
    public func inboxItems(team: String?, includeHandled: Bool = false, after: (receivedAtMillis: Int64, id: String)? = nil,
                           limit: Int = 500) async throws -> [InboxItem] {
        try await read { db in
            var scope = team.map { SQLQueryString("AND p.team = \(bind: $0)") } ?? SQLQueryString("")
            if let after { scope.appendInterpolation(SQLQueryString(" AND (r.received_at_ms, r.id) > (\(bind: after.receivedAtMillis), \(bind: after.id))")) }
            let status = includeHandled ? SQLQueryString("(r.status = 'quarantined' OR r.handled_at_ms IS NOT NULL)") : SQLQueryString("r.status = 'quarantined'")
            return try await db.raw("""
                SELECT r.id, r.source, r.gateway, r.received_at_ms, r.person_id, p.team, r.reason, r.status, r.raw_body, r.content_type,
                       r.handled_by, r.handled_note, r.handled_at_ms, \(Self.urgentFlagColumn)
                FROM inbound_replies r LEFT JOIN people p ON p.id = r.person_id
                WHERE \(status) \(scope) ORDER BY r.received_at_ms, r.id LIMIT \(literal: limit)
                """).all().map(Self.inboxItem)
        }
    }

    /// One inbox item, handled or not.
    public func inboxItem(id: String) async throws -> InboxItem? {
        try await read { db in
            try await db.raw("""
                SELECT r.id, r.source, r.gateway, r.received_at_ms, r.person_id, p.team, r.reason, r.status, r.raw_body, r.content_type,
                       r.handled_by, r.handled_note, r.handled_at_ms, \(Self.urgentFlagColumn)
                FROM inbound_replies r LEFT JOIN people p ON p.id = r.person_id WHERE r.id = \(bind: id)
                """).first().map(Self.inboxItem)
        }
    }

    /// Quarantined replies waiting, per team (`""` for replies from unknown senders), for the ops page and metrics.
    public func inboxCounts() async throws -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for row in try await db.raw("""
                SELECT COALESCE(p.team, '') AS team, COUNT(*) AS n FROM inbound_replies r LEFT JOIN people p ON p.id = r.person_id
                WHERE r.status = 'quarantined' GROUP BY COALESCE(p.team, '')
                """).all() {
                counts[try row.decode(column: "team", as: String.self)] = try row.decode(column: "n", as: Int.self)
            }
            return counts
        }
    }

    /// Resolves a quarantined reply once: matched answers are stored through the same write as every channel, an
    /// opt-out is recorded, and who did it, when and why is kept on the reply. Returns false when it was not (or no
    /// longer) quarantined, so two people acting at once cannot both resolve it.
    public func resolveInboxItem(id: String, personID: String?, resolution: InboxResolution, by actor: String, note: String?,
                                 now: Date) async throws -> Bool {
        let stamp = now.millis
        let reason: String
        switch resolution {
        case .matched: reason = "matched"
        case .optOut: reason = "opt_out"
        case .handled: reason = "handled"
        }
        return try await transaction { db in
            let claimed = try await db.raw("""
                UPDATE inbound_replies SET status = 'processed', handled_by = \(bind: actor), handled_note = \(bind: note),
                       handled_at_ms = \(bind: stamp), reason = \(bind: reason) WHERE id = \(bind: id) AND status = 'quarantined' RETURNING source
                """).first()
            guard let claimed else { return false }
            let source = try claimed.decode(column: "source", as: String.self)
            switch resolution {
            case .matched(let answers):
                guard let personID else { return false }
                _ = try await Self.insertScored(db, answers, personID: personID, source: source, replyID: id, now: stamp)
            case .optOut(let channel):
                guard let personID else { return false }
                try await Self.insertConsent(db, personID: personID, channel: channel, optedIn: false, source: "inbox", inboundReplyID: id, now: stamp)
            case .handled:
                break
            }
            return true
        }
    }

    static var urgentFlagColumn: SQLQueryString {
        "CASE WHEN EXISTS (SELECT 1 FROM flags f WHERE f.inbound_reply_id = r.id AND f.severity = 'urgent') THEN 1 ELSE 0 END AS urgent_flag"
    }

    static func inboxItem(_ row: any SQLRow) throws -> InboxItem {
        InboxItem(id: try row.decode(column: "id", as: String.self), channel: try row.decode(column: "source", as: String.self),
                  gateway: try row.decode(column: "gateway", as: String.self),
                  receivedAt: Date(millis: try row.decode(column: "received_at_ms", as: Int64.self)),
                  personID: try row.decode(column: "person_id", as: String?.self), team: try row.decode(column: "team", as: String?.self),
                  reason: try row.decode(column: "reason", as: String?.self), status: try row.decode(column: "status", as: String.self),
                  rawBody: Array(try row.decode(column: "raw_body", as: Data.self)), contentType: try row.decode(column: "content_type", as: String?.self) ?? "",
                  handledBy: try row.decode(column: "handled_by", as: String?.self), handledNote: try row.decode(column: "handled_note", as: String?.self),
                  handledAt: try row.decode(column: "handled_at_ms", as: Int64?.self).map(Date.init(millis:)),
                  urgentFlag: try row.decode(column: "urgent_flag", as: Int.self) != 0)
    }
}
