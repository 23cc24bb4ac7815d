public import Foundation
import SQLKit

/// A flag as a clinician sees it.
public struct FlagRecord: Sendable, Equatable, Codable {
    public var id: String
    public var personID: String
    public var team: String
    public var kind: String
    public var severity: String
    public var status: String
    public var evidence: String
    public var raisedAt: Date
    public var acknowledgedBy: String?
    public var acknowledgedAt: Date?
    public var actionedBy: String?
    public var actionedAt: Date?
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case id, kind, severity, status, evidence, team, note
        case personID = "person", raisedAt = "raised_at", acknowledgedBy = "acknowledged_by", acknowledgedAt = "acknowledged_at"
        case actionedBy = "actioned_by", actionedAt = "actioned_at"
    }
}

/// Why a flag could not move.
public enum FlagUpdateError: Error, Sendable, Equatable {
    case notFound
    /// Statuses only move forward: open → acknowledged → actioned.
    case backwards(current: String)
    /// The flag changed since the state the caller decided on (If-Match).
    case stale(current: FlagRecord)
}

extension SQLStore {
    /// Flags of a team (or everyone), or of one person, urgent first then oldest first; `openOnly` leaves out
    /// actioned ones. `after` continues after that flag's place in the order (a page's last), `limit` caps the count.
    public func flags(team: String?, personID: String? = nil, openOnly: Bool, after: (urgent: Bool, raisedAtMillis: Int64, id: String)? = nil,
                      limit: Int? = nil) async throws -> [FlagRecord] {
        try await read { db in
            var teamFilter = team.map { SQLQueryString("AND p.team = \(bind: $0)") } ?? SQLQueryString("")
            if let personID { teamFilter.appendInterpolation(unsafeRaw: " AND f.person_id = "); teamFilter.appendInterpolation(bind: personID) }
            let statusFilter = openOnly ? SQLQueryString("AND f.status <> 'actioned'") : SQLQueryString("")
            let page = after.map { flag in
                SQLQueryString("AND (\(unsafeRaw: Self.flagRank), f.raised_at_ms, f.id) > (\(bind: flag.urgent ? 0 : 1), \(bind: flag.raisedAtMillis), \(bind: flag.id))")
            } ?? SQLQueryString("")
            let cap = limit.map { SQLQueryString("LIMIT \(literal: $0)") } ?? SQLQueryString("")
            return try await db.raw("""
                SELECT f.id, f.person_id, p.team, f.kind, f.severity, f.status, f.evidence, f.raised_at_ms, f.acknowledged_by, f.acknowledged_at_ms,
                       f.actioned_by, f.actioned_at_ms, f.note
                FROM flags f JOIN people p ON p.id = f.person_id
                WHERE 1 = 1 \(teamFilter) \(statusFilter) \(page)
                ORDER BY \(unsafeRaw: Self.flagRank), f.raised_at_ms, f.id \(cap)
                """).all().map(Self.decodeFlag)
        }
    }

    /// Urgent flags first.
    static let flagRank = "CASE f.severity WHEN 'urgent' THEN 0 ELSE 1 END"

    /// One flag, with its person's team.
    public func flag(id: String) async throws -> FlagRecord? {
        try await read { db in try await Self.flag(db, id: id) }
    }

    static func flag(_ db: any SQLDatabase, id: String) async throws -> FlagRecord? {
        try await db.raw("""
            SELECT f.id, f.person_id, p.team, f.kind, f.severity, f.status, f.evidence, f.raised_at_ms, f.acknowledged_by, f.acknowledged_at_ms,
                   f.actioned_by, f.actioned_at_ms, f.note
            FROM flags f JOIN people p ON p.id = f.person_id WHERE f.id = \(bind: id)
            """).first().map(Self.decodeFlag)
    }

    /// Moves a flag forward to `acknowledged` or `actioned`, recording who, when and the note, with an audit event.
    /// `condition`, when given, must hold for the flag as it is inside the transaction (a client's If-Match).
    public func advanceFlag(id: String, to status: String, by actor: String, note: String?, now: Date,
                            if condition: (@Sendable (FlagRecord) -> Bool)? = nil) async throws -> Result<Void, FlagUpdateError> {
        let order = ["open": 0, "acknowledged": 1, "actioned": 2]
        return try await transaction { db in
            guard let flag = try await Self.flag(db, id: id) else { return .failure(.notFound) }
            if let condition, !condition(flag) { return .failure(.stale(current: flag)) }
            let current = flag.status
            guard let from = order[current], let to = order[status], to > from else { return .failure(.backwards(current: current)) }
            if status == "acknowledged" {
                try await db.raw("""
                    UPDATE flags SET status = 'acknowledged', acknowledged_by = \(bind: actor), acknowledged_at_ms = \(bind: now.millis),
                           note = COALESCE(\(bind: note), note) WHERE id = \(bind: id)
                    """).run()
            } else {
                try await db.raw("""
                    UPDATE flags SET status = 'actioned', actioned_by = \(bind: actor), actioned_at_ms = \(bind: now.millis),
                           acknowledged_by = COALESCE(acknowledged_by, \(bind: actor)), acknowledged_at_ms = COALESCE(acknowledged_at_ms, \(bind: now.millis)),
                           note = COALESCE(\(bind: note), note) WHERE id = \(bind: id)
                    """).run()
            }
            try await insertAudit(AuditEvent(at: now, actor: actor, action: "flag.\(status)", personID: flag.personID,
                                             detail: id, requestID: nil), db: db)
            return .success(())
        }
    }

    static func decodeFlag(_ row: any SQLRow) throws -> FlagRecord {
        FlagRecord(id: try row.decode(column: "id", as: String.self), personID: try row.decode(column: "person_id", as: String.self),
                   team: try row.decode(column: "team", as: String.self), kind: try row.decode(column: "kind", as: String.self),
                   severity: try row.decode(column: "severity", as: String.self), status: try row.decode(column: "status", as: String.self),
                   evidence: try row.decode(column: "evidence", as: String.self),
                   raisedAt: Date(millis: try row.decode(column: "raised_at_ms", as: Int64.self)),
                   acknowledgedBy: try row.decode(column: "acknowledged_by", as: String?.self),
                   acknowledgedAt: try row.decode(column: "acknowledged_at_ms", as: Int64?.self).map(Date.init(millis:)),
                   actionedBy: try row.decode(column: "actioned_by", as: String?.self),
                   actionedAt: try row.decode(column: "actioned_at_ms", as: Int64?.self).map(Date.init(millis:)),
                   note: try row.decode(column: "note", as: String?.self))
    }
}
