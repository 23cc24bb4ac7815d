public import Foundation
import SQLKit

/// A named staff account: signs in in a browser with a password and a TOTP code. Passwords are stored as bcrypt
/// hashes, recovery codes and set-up links as SHA-256; the TOTP secret is stored as given (it must be read to check a
/// code), so the database is as sensitive as the link secret.
public struct StaffUser: Sendable, Equatable {
    public var id: String
    public var email: String
    public var role: Role
    public var team: String?
    public var passwordHash: String?
    public var totpSecret: String?
    /// The last TOTP time step accepted: a code is good once, and never one older than this.
    public var totpLastStep: Int64
    /// Failed sign-in steps since the last success (password or code), for the account's backoff.
    public var failedCount: Int
    public var lockedUntil: Date?
    public var createdAt: Date
    public var disabledAt: Date?
    public var lastSignInAt: Date?
    /// Unused recovery codes left.
    public var recoveryCodesLeft: Int

    public var isDisabled: Bool { disabledAt != nil }
}

/// A browser session of a staff account. `password` sessions have passed the first step only and open nothing but
/// the code form; `signed_in` sessions are the real thing.
public struct StaffSession: Sendable, Equatable {
    public enum Stage: String, Sendable { case password, signedIn = "signed_in" }
    public var id: String
    public var userID: String
    public var stage: Stage
    public var createdAt: Date
    public var lastSeenAt: Date
    public var expiresAt: Date
    /// Where to go once signed in (a same-site path, checked before it was stored).
    public var next: String?
}

extension SQLStore {
    static let userColumns: SQLQueryString = """
        u.id, u.email, u.role, u.team, u.password_hash, u.totp_secret, u.totp_last_step, u.failed_count, u.locked_until_ms,
        u.created_at_ms, u.disabled_at_ms, u.last_sign_in_at_ms,
        (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at_ms IS NULL) AS recovery_left
        """

    /// Creates an account. `passwordHash` nil leaves it waiting for its set-up link (`setupHash`, until `setupExpiresAt`).
    public func insertUser(id: String, email: String, role: Role, team: String?, passwordHash: String?, totpSecret: String?,
                           recoveryCodeHashes: [String], setupHash: String?, setupExpiresAt: Date?, actor: String, now: Date) async throws {
        try await transaction { db in
            if try await db.raw("SELECT id FROM staff_users WHERE email = \(bind: email)").first() != nil {
                throw StoreError.duplicate("an account for \(email) exists already; use `rom users reset` to give it a new password or MFA")
            }
            try await db.insert(into: "staff_users")
                .columns("id", "email", "role", "team", "password_hash", "totp_secret", "setup_hash", "setup_expires_at_ms", "created_at_ms")
                .values(SQLBind(id), SQLBind(email), SQLBind(role.rawValue), SQLBind(team), SQLBind(passwordHash), SQLBind(totpSecret),
                        SQLBind(setupHash), SQLBind(setupExpiresAt?.millis), SQLBind(now.millis))
                .run()
            try await self.replaceRecoveryCodes(userID: id, hashes: recoveryCodeHashes, db: db)
            try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "user.create", personID: nil,
                                                  detail: "\(email) role \(role.rawValue)\(team.map { " team \($0)" } ?? "")", requestID: nil), db: db)
        }
    }

    public func user(email: String) async throws -> StaffUser? {
        try await read { db in
            try await db.raw("SELECT \(Self.userColumns) FROM staff_users u WHERE u.email = \(bind: email)").first().map(Self.decodeUser)
        }
    }

    public func user(id: String) async throws -> StaffUser? {
        try await read { db in
            try await db.raw("SELECT \(Self.userColumns) FROM staff_users u WHERE u.id = \(bind: id)").first().map(Self.decodeUser)
        }
    }

    /// The account a live set-up link belongs to.
    public func user(setupHash: String, now: Date) async throws -> StaffUser? {
        try await read { db in
            try await db.raw("""
                SELECT \(Self.userColumns) FROM staff_users u WHERE u.setup_hash = \(bind: setupHash)
                AND u.setup_expires_at_ms > \(bind: now.millis) AND u.disabled_at_ms IS NULL
                """).first().map(Self.decodeUser)
        }
    }

    /// Every account, by email (`rom users list`, the ops page).
    public func users() async throws -> [StaffUser] {
        try await read { db in
            try await db.raw("SELECT \(Self.userColumns) FROM staff_users u ORDER BY u.email").all().map(Self.decodeUser)
        }
    }

    /// A failed sign-in step: counts it and sets the account's wait (decided by the caller's policy from the new count).
    /// Returns the new count.
    @discardableResult
    public func recordSignInFailure(userID: String, lockedUntil: @Sendable (Int) -> Date?, now: Date) async throws -> Int {
        try await transaction { db in
            let count = try await db.raw("UPDATE staff_users SET failed_count = failed_count + 1 WHERE id = \(bind: userID) RETURNING failed_count")
                .first()?.decode(column: "failed_count", as: Int.self) ?? 0
            try await db.raw("UPDATE staff_users SET locked_until_ms = \(bind: lockedUntil(count)?.millis) WHERE id = \(bind: userID)").run()
            return count
        }
    }

    /// Accepts a TOTP time step once: true only if `step` is later than every step accepted before (so a code seen
    /// over a shoulder, or replayed by another instance, is refused).
    public func acceptTOTPStep(userID: String, step: Int64) async throws -> Bool {
        try await transaction { db in
            try await db.raw("""
                UPDATE staff_users SET totp_last_step = \(bind: step) WHERE id = \(bind: userID) AND totp_last_step < \(bind: step) RETURNING id
                """).first() != nil
        }
    }

    /// Uses up one recovery code; false when it is not one of the account's unused codes.
    public func useRecoveryCode(userID: String, hash: String, now: Date) async throws -> Bool {
        try await transaction { db in
            try await db.raw("""
                UPDATE recovery_codes SET used_at_ms = \(bind: now.millis)
                WHERE user_id = \(bind: userID) AND code_hash = \(bind: hash) AND used_at_ms IS NULL RETURNING user_id
                """).first() != nil
        }
    }

    /// Both steps passed: the failure count goes back to zero and the sign-in is recorded.
    public func recordSignIn(userID: String, now: Date) async throws {
        try await transaction { db in
            try await db.raw("""
                UPDATE staff_users SET failed_count = 0, locked_until_ms = NULL, last_sign_in_at_ms = \(bind: now.millis) WHERE id = \(bind: userID)
                """).run()
        }
    }

    /// Sets a new password (from a set-up link, `rom users reset` or `create --password-stdin`): the set-up link is
    /// used up, the backoff cleared, and every session of the account ends.
    /// With `mfa`, the account's TOTP secret and recovery codes are set in the same transaction.
    public func setPassword(userID: String, hash: String, mfa: (secret: String, recoveryCodeHashes: [String])? = nil, actor: String, now: Date) async throws {
        try await transaction { db in
            if let mfa {
                try await db.raw("UPDATE staff_users SET totp_secret = \(bind: mfa.secret), totp_last_step = 0 WHERE id = \(bind: userID)").run()
                try await self.replaceRecoveryCodes(userID: userID, hashes: mfa.recoveryCodeHashes, db: db)
            }
            try await db.raw("""
                UPDATE staff_users SET password_hash = \(bind: hash), setup_hash = NULL, setup_expires_at_ms = NULL, failed_count = 0,
                locked_until_ms = NULL WHERE id = \(bind: userID)
                """).run()
            try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: userID)").run()
            try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "user.password_set", personID: nil, detail: userID, requestID: nil), db: db)
        }
    }

    /// `rom users reset` without a password: the old password stops working, a new set-up link is issued, and every
    /// session ends.
    public func resetPassword(userID: String, setupHash: String, setupExpiresAt: Date, actor: String, now: Date) async throws {
        try await transaction { db in
            try await db.raw("""
                UPDATE staff_users SET password_hash = NULL, setup_hash = \(bind: setupHash), setup_expires_at_ms = \(bind: setupExpiresAt.millis),
                failed_count = 0, locked_until_ms = NULL WHERE id = \(bind: userID)
                """).run()
            try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: userID)").run()
            try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "user.password_reset", personID: nil, detail: userID, requestID: nil), db: db)
        }
    }

    /// A new TOTP secret and recovery codes (`rom users reset --mfa`, or first set-up); every session ends.
    public func setMFA(userID: String, totpSecret: String, recoveryCodeHashes: [String], actor: String, now: Date) async throws {
        try await transaction { db in
            try await db.raw("UPDATE staff_users SET totp_secret = \(bind: totpSecret), totp_last_step = 0 WHERE id = \(bind: userID)").run()
            try await self.replaceRecoveryCodes(userID: userID, hashes: recoveryCodeHashes, db: db)
            try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: userID)").run()
            try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "user.mfa_reset", personID: nil, detail: userID, requestID: nil), db: db)
        }
    }

    /// Disables an account and ends its sessions; false when it was disabled already (or does not exist).
    @discardableResult
    public func disableUser(id: String, actor: String, now: Date) async throws -> Bool {
        try await transaction { db in
            let done = try await db.raw("UPDATE staff_users SET disabled_at_ms = \(bind: now.millis), setup_hash = NULL WHERE id = \(bind: id) AND disabled_at_ms IS NULL RETURNING id").first()
            try await db.raw("DELETE FROM sessions WHERE user_id = \(bind: id)").run()
            if done != nil {
                try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "user.disable", personID: nil, detail: id, requestID: nil), db: db)
            }
            return done != nil
        }
    }

    private func replaceRecoveryCodes(userID: String, hashes: [String], db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM recovery_codes WHERE user_id = \(bind: userID)").run()
        for hash in hashes {
            try await db.insert(into: "recovery_codes").columns("user_id", "code_hash").values(SQLBind(userID), SQLBind(hash)).run()
        }
    }

    private static func decodeUser(_ row: any SQLRow) throws -> StaffUser {
        let text = try row.decode(column: "role", as: String.self)
        guard let role = Role(rawValue: text), role != .integration else { throw StoreError.unsupported("account role `\(text)`") }
        return StaffUser(
            id: try row.decode(column: "id", as: String.self), email: try row.decode(column: "email", as: String.self), role: role,
            team: try row.decode(column: "team", as: String?.self), passwordHash: try row.decode(column: "password_hash", as: String?.self),
            totpSecret: try row.decode(column: "totp_secret", as: String?.self), totpLastStep: try row.decode(column: "totp_last_step", as: Int64.self),
            failedCount: try row.decode(column: "failed_count", as: Int.self),
            lockedUntil: try row.decode(column: "locked_until_ms", as: Int64?.self).map(Date.init(millis:)),
            createdAt: Date(millis: try row.decode(column: "created_at_ms", as: Int64.self)),
            disabledAt: try row.decode(column: "disabled_at_ms", as: Int64?.self).map(Date.init(millis:)),
            lastSignInAt: try row.decode(column: "last_sign_in_at_ms", as: Int64?.self).map(Date.init(millis:)),
            recoveryCodesLeft: try row.decode(column: "recovery_left", as: Int.self))
    }
}

// MARK: - Sessions

extension SQLStore {
    /// Starts a session; the cookie value's hash is stored, never the value.
    public func insertSession(hash: String, userID: String, stage: StaffSession.Stage, next: String?, now: Date, expiresAt: Date) async throws {
        try await transaction { db in
            try await db.insert(into: "sessions").columns("id", "session_hash", "user_id", "stage", "next_path", "created_at_ms", "last_seen_at_ms", "expires_at_ms")
                .values(SQLBind(newID()), SQLBind(hash), SQLBind(userID), SQLBind(stage.rawValue), SQLBind(next), SQLBind(now.millis), SQLBind(now.millis),
                        SQLBind(expiresAt.millis)).run()
        }
    }

    /// The live session with this hash and its account: not past its absolute expiry, seen within `idle`, the
    /// account not disabled.
    public func session(hash: String, idle: TimeInterval, now: Date) async throws -> (StaffSession, StaffUser)? {
        try await read { db in
            guard let row = try await db.raw("""
                SELECT s.id AS session_id, s.user_id, s.stage, s.next_path, s.created_at_ms AS session_created_ms, s.last_seen_at_ms,
                s.expires_at_ms, \(Self.userColumns)
                FROM sessions s JOIN staff_users u ON u.id = s.user_id
                WHERE s.session_hash = \(bind: hash) AND s.expires_at_ms > \(bind: now.millis)
                AND s.last_seen_at_ms > \(bind: now.millis - Int64(idle * 1000)) AND u.disabled_at_ms IS NULL
                """).first() else { return nil }
            let stageText = try row.decode(column: "stage", as: String.self)
            guard let stage = StaffSession.Stage(rawValue: stageText) else { return nil }
            let session = StaffSession(
                id: try row.decode(column: "session_id", as: String.self), userID: try row.decode(column: "user_id", as: String.self), stage: stage,
                createdAt: Date(millis: try row.decode(column: "session_created_ms", as: Int64.self)),
                lastSeenAt: Date(millis: try row.decode(column: "last_seen_at_ms", as: Int64.self)),
                expiresAt: Date(millis: try row.decode(column: "expires_at_ms", as: Int64.self)),
                next: try row.decode(column: "next_path", as: String?.self))
            return (session, try Self.decodeUser(row))
        }
    }

    /// Records activity on a session (callers throttle this), which keeps it from idling out.
    public func touchSession(id: String, now: Date) async throws {
        try await transaction { db in
            try await db.raw("UPDATE sessions SET last_seen_at_ms = \(bind: now.millis) WHERE id = \(bind: id)").run()
        }
    }

    public func deleteSession(hash: String) async throws {
        try await transaction { db in try await db.raw("DELETE FROM sessions WHERE session_hash = \(bind: hash)").run() }
    }

    public func deleteSession(id: String) async throws {
        try await transaction { db in try await db.raw("DELETE FROM sessions WHERE id = \(bind: id)").run() }
    }

    /// Deletes sessions past their absolute expiry or idle for longer than `idle`; returns how many.
    @discardableResult
    public func deleteExpiredSessions(idle: TimeInterval, now: Date) async throws -> Int {
        try await transaction { db in
            let cutoff = now.millis - Int64(idle * 1000)
            let count = try await db.raw("SELECT COUNT(*) AS n FROM sessions WHERE expires_at_ms <= \(bind: now.millis) OR last_seen_at_ms <= \(bind: cutoff)")
                .first()?.decode(column: "n", as: Int.self) ?? 0
            try await db.raw("DELETE FROM sessions WHERE expires_at_ms <= \(bind: now.millis) OR last_seen_at_ms <= \(bind: cutoff)").run()
            return count
        }
    }
}
