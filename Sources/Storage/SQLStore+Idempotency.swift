public import Foundation
import SQLKit

/// What an Idempotency-Key holds when a request arrives with it.
public enum IdempotencyClaim: Sendable, Equatable {
    /// New (or expired, or left behind by a request that died): this request runs, then records its answer.
    case claimed
    /// The same request is running now (another connection, or a client that gave up waiting).
    case inProgress
    /// The key was used for a different request.
    case mismatch
    /// The first request's answer.
    case done(status: Int, contentType: String, body: String)
}

extension SQLStore {
    /// A key lives a day; one still running after `stale` is taken to have died with its process.
    public static let idempotencyLifetime: TimeInterval = 86_400
    public static let idempotencyStale: TimeInterval = 300

    /// Claims `key` of `credential` for the request with `fingerprint`, or says what it already holds.
    public func claimIdempotencyKey(credential: String, key: String, fingerprint: String, now: Date) async throws -> IdempotencyClaim {
        try await transaction { db in
            let row = try await db.raw("""
                SELECT fingerprint, status, content_type, body, created_at_ms FROM idempotency_keys
                WHERE credential = \(bind: credential) AND key = \(bind: key)
                """).first()
            guard let row else {
                try await db.raw("""
                    INSERT INTO idempotency_keys (credential, key, fingerprint, created_at_ms)
                    VALUES (\(bind: credential), \(bind: key), \(bind: fingerprint), \(bind: now.millis))
                    """).run()
                return .claimed
            }
            let created = Date(millis: try row.decode(column: "created_at_ms", as: Int64.self))
            let status = try row.decode(column: "status", as: Int?.self)
            let expired = now.timeIntervalSince(created) >= Self.idempotencyLifetime
            let abandoned = status == nil && now.timeIntervalSince(created) >= Self.idempotencyStale
            if expired || abandoned {
                try await db.raw("""
                    UPDATE idempotency_keys SET fingerprint = \(bind: fingerprint), status = NULL, content_type = NULL, body = NULL,
                           created_at_ms = \(bind: now.millis)
                    WHERE credential = \(bind: credential) AND key = \(bind: key)
                    """).run()
                return .claimed
            }
            guard try row.decode(column: "fingerprint", as: String.self) == fingerprint else { return .mismatch }
            guard let status else { return .inProgress }
            return .done(status: status, contentType: try row.decode(column: "content_type", as: String?.self) ?? "application/json",
                         body: try row.decode(column: "body", as: String?.self) ?? "")
        }
    }

    /// Records the answer the claiming request gave.
    public func completeIdempotencyKey(credential: String, key: String, status: Int, contentType: String, body: String) async throws {
        try await transaction { db in
            try await db.raw("""
                UPDATE idempotency_keys SET status = \(bind: status), content_type = \(bind: contentType), body = \(bind: body)
                WHERE credential = \(bind: credential) AND key = \(bind: key)
                """).run()
        }
    }

    /// Lets the key go when the request could not finish (the database went away, the server failed): a retry runs it.
    public func releaseIdempotencyKey(credential: String, key: String) async throws {
        try await transaction { db in
            try await db.raw("DELETE FROM idempotency_keys WHERE credential = \(bind: credential) AND key = \(bind: key) AND status IS NULL").run()
        }
    }
}
