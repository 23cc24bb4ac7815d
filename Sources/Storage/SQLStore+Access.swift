public import Foundation
public import SQLKit

/// What a staff token may do.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// Configures pathways and gateways, sees every team, reads reports.
    case ops
    /// Reads and acts on their own team's people, scores and flags.
    case clinician
    /// Systems that post people and responses.
    case integration
}

/// A staff or system credential; only the SHA-256 of the secret is stored.
public struct APIToken: Sendable, Equatable {
    public var id: String
    public var role: Role
    public var team: String?
    public var label: String?
    public var createdAt: Date
    public var revokedAt: Date?
    /// After this the token is refused (nil: never, only when created with `--expires never`).
    public var expiresAt: Date?
    /// Last accepted use, to the minute.
    public var lastUsedAt: Date?
}

/// One append-only audit record.
public struct AuditEvent: Sendable, Equatable {
    public var at: Date
    public var actor: String
    public var action: String
    public var personID: String?
    public var detail: String?
    public var requestID: String?

    public init(at: Date, actor: String, action: String, personID: String?, detail: String?, requestID: String?) {
        self.at = at
        self.actor = actor
        self.action = action
        self.personID = personID
        self.detail = detail
        self.requestID = requestID
    }
}

extension SQLStore {
    /// Stores a new token by its hash; `expiresAt` nil means it never expires.
    public func insertToken(id: String, hash: String, role: Role, team: String?, label: String?, expiresAt: Date? = nil, now: Date) async throws {
        try await transaction { db in
            try await db.insert(into: "api_tokens")
                .columns("id", "token_hash", "role", "team", "label", "created_at_ms", "expires_at_ms")
                .values(SQLBind(id), SQLBind(hash), SQLBind(role.rawValue), SQLBind(team), SQLBind(label), SQLBind(now.millis), SQLBind(expiresAt?.millis))
                .run()
            try await insertAudit(AuditEvent(at: now, actor: "cli", action: "token.create", personID: nil, detail: "token \(id) role \(role.rawValue)", requestID: nil), db: db)
        }
    }

    static let tokenColumns: SQLQueryString = "t.id, t.role, t.team, t.label, t.created_at_ms, t.revoked_at_ms, t.expires_at_ms, t.last_used_at_ms"

    /// The live token with this hash: not revoked, not expired at `now`.
    public func token(hash: String, now: Date) async throws -> APIToken? {
        try await read { db in
            try await db.raw("""
                SELECT \(Self.tokenColumns) FROM api_tokens t WHERE t.token_hash = \(bind: hash) AND t.revoked_at_ms IS NULL
                AND (t.expires_at_ms IS NULL OR t.expires_at_ms > \(bind: now.millis))
                """).first().map(Self.decodeToken)
        }
    }

    /// Every token, newest first, revoked and expired ones included (`rom tokens list`).
    public func tokens() async throws -> [APIToken] {
        try await read { db in
            try await db.raw("SELECT \(Self.tokenColumns) FROM api_tokens t ORDER BY t.created_at_ms DESC, t.id").all().map(Self.decodeToken)
        }
    }

    /// Records a token's use (callers throttle this to once a minute per token).
    public func touchToken(id: String, now: Date) async throws {
        try await transaction { db in
            try await db.raw("UPDATE api_tokens SET last_used_at_ms = \(bind: now.millis) WHERE id = \(bind: id)").run()
        }
    }

    /// Revokes a token; false when there is no such token or it was revoked already.
    @discardableResult
    public func revokeToken(id: String, now: Date) async throws -> Bool {
        try await transaction { db in
            let revoked = try await db.raw("UPDATE api_tokens SET revoked_at_ms = \(bind: now.millis) WHERE id = \(bind: id) AND revoked_at_ms IS NULL RETURNING id").first()
            if revoked != nil {
                try await self.insertAudit(AuditEvent(at: now, actor: "cli", action: "token.revoke", personID: nil, detail: "token \(id)", requestID: nil), db: db)
            }
            return revoked != nil
        }
    }

    /// Appends an audit record in its own transaction.
    public func audit(_ event: AuditEvent) async throws {
        try await transaction { db in try await self.insertAudit(event, db: db) }
    }

    /// Appends an audit record inside a caller's transaction.
    public func insertAudit(_ event: AuditEvent, db: any SQLDatabase) async throws {
        try await db.insert(into: "audit_events").columns("id", "at_ms", "actor", "action", "person_id", "detail", "request_id")
            .values(SQLBind(newID()), SQLBind(event.at.millis), SQLBind(event.actor), SQLBind(event.action),
                    SQLBind(event.personID), SQLBind(event.detail), SQLBind(event.requestID)).run()
    }

    /// One person's audit events of the given actions, oldest first (e.g. their mode switches).
    public func auditEvents(personID: String, actions: [String]) async throws -> [AuditEvent] {
        guard !actions.isEmpty else { return [] }
        return try await read { db in
            var list = SQLQueryString("")
            for (index, action) in actions.enumerated() {
                if index > 0 { list.appendInterpolation(unsafeRaw: ", ") }
                list.appendInterpolation(bind: action)
            }
            return try await db.raw("""
                SELECT at_ms, actor, action, person_id, detail, request_id FROM audit_events
                WHERE person_id = \(bind: personID) AND action IN (\(list)) ORDER BY at_ms
                """).all().map { row in
                AuditEvent(at: Date(millis: try row.decode(column: "at_ms", as: Int64.self)), actor: try row.decode(column: "actor", as: String.self),
                           action: try row.decode(column: "action", as: String.self), personID: try row.decode(column: "person_id", as: String?.self),
                           detail: try row.decode(column: "detail", as: String?.self), requestID: try row.decode(column: "request_id", as: String?.self))
            }
        }
    }

    public func auditEvents(limit: Int = 100) async throws -> [AuditEvent] {
        try await read { db in
            try await db.raw("SELECT at_ms, actor, action, person_id, detail, request_id FROM audit_events ORDER BY at_ms DESC LIMIT \(literal: limit)")
                .all().map { row in
                    AuditEvent(at: Date(millis: try row.decode(column: "at_ms", as: Int64.self)), actor: try row.decode(column: "actor", as: String.self),
                               action: try row.decode(column: "action", as: String.self), personID: try row.decode(column: "person_id", as: String?.self),
                               detail: try row.decode(column: "detail", as: String?.self), requestID: try row.decode(column: "request_id", as: String?.self))
                }
        }
    }

    /// An unknown role (a hand-edited row, a role from a newer version) fails closed: the token is refused, never
    /// taken for another role.
    private static func decodeToken(_ row: any SQLRow) throws -> APIToken {
        let text = try row.decode(column: "role", as: String.self)
        guard let role = Role(rawValue: text) else { throw StoreError.unsupported("token role `\(text)`") }
        return APIToken(id: try row.decode(column: "id", as: String.self),
                 role: role,
                 team: try row.decode(column: "team", as: String?.self), label: try row.decode(column: "label", as: String?.self),
                 createdAt: Date(millis: try row.decode(column: "created_at_ms", as: Int64.self)),
                 revokedAt: try row.decode(column: "revoked_at_ms", as: Int64?.self).map(Date.init(millis:)),
                 expiresAt: try row.decode(column: "expires_at_ms", as: Int64?.self).map(Date.init(millis:)),
                 lastUsedAt: try row.decode(column: "last_used_at_ms", as: Int64?.self).map(Date.init(millis:)))
    }
}
