public import Foundation
import SQLKit

/// A message the sandbox gateway kept instead of delivering.
public struct SandboxMessage: Sendable, Equatable, Codable {
    public var id: String
    public var gateway: String
    public var channel: String
    public var recipient: String
    public var subject: String?
    public var body: String
    public var link: String?
    public var idempotencyKey: String
    public var createdAt: Date

    public init(id: String, gateway: String, channel: String, recipient: String, subject: String?, body: String, link: String?,
                idempotencyKey: String, createdAt: Date) {
        self.id = id
        self.gateway = gateway
        self.channel = channel
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.link = link
        self.idempotencyKey = idempotencyKey
        self.createdAt = createdAt
    }
}

extension SQLStore {
    public func insertSandboxMessage(_ message: SandboxMessage) async throws {
        try await transaction { db in
            try await db.insert(into: "sandbox_messages")
                .columns("id", "gateway", "channel", "recipient", "subject", "body", "link", "idempotency_key", "created_at_ms")
                .values(SQLBind(message.id), SQLBind(message.gateway), SQLBind(message.channel), SQLBind(message.recipient),
                        SQLBind(message.subject), SQLBind(message.body), SQLBind(message.link), SQLBind(message.idempotencyKey),
                        SQLBind(message.createdAt.millis)).run()
        }
    }

    /// Newest first.
    public func sandboxMessages(limit: Int = 100) async throws -> [SandboxMessage] {
        try await read { db in
            try await db.raw("SELECT * FROM sandbox_messages ORDER BY created_at_ms DESC, id LIMIT \(literal: limit)").all().map { row in
                SandboxMessage(id: try row.decode(column: "id", as: String.self), gateway: try row.decode(column: "gateway", as: String.self),
                               channel: try row.decode(column: "channel", as: String.self), recipient: try row.decode(column: "recipient", as: String.self),
                               subject: try row.decode(column: "subject", as: String?.self), body: try row.decode(column: "body", as: String.self),
                               link: try row.decode(column: "link", as: String?.self),
                               idempotencyKey: try row.decode(column: "idempotency_key", as: String.self),
                               createdAt: Date(millis: try row.decode(column: "created_at_ms", as: Int64.self)))
            }
        }
    }
}

extension SQLStore {
    /// The newest check-in link the sandbox delivered to any of `recipients`.
    public func latestSandboxLink(recipients: [String]) async throws -> String? {
        guard !recipients.isEmpty else { return nil }
        return try await read { db in
            try await db.raw("""
                SELECT link FROM sandbox_messages WHERE link IS NOT NULL AND recipient IN \(boundSet(db, recipients))
                ORDER BY created_at_ms DESC, \(insertionOrder) DESC LIMIT 1
                """).first()?.decode(column: "link", as: String?.self)
        }
    }
}
