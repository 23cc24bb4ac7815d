public import Foundation
import SQLKit

/// The instants before which operational data may go (from `retention:` in rom.yaml).
public struct PurgeCutoffs: Sendable, Equatable {
    /// Raw reply bodies of replies already processed (inbox items only once handled).
    public var rawReplies: Date
    /// Outbox payloads and error text of messages that have finished; sandbox messages.
    public var outboxPayloads: Date
    /// Link tokens that expired before this (used or not), and check-in drafts left since.
    public var expiredTokens: Date
    /// Signed-webhook tokens remembered for replay protection (a day is far past any replay window).
    public var webhookTokens: Date

    public init(rawReplies: Date, outboxPayloads: Date, expiredTokens: Date, webhookTokens: Date) {
        self.rawReplies = rawReplies
        self.outboxPayloads = outboxPayloads
        self.expiredTokens = expiredTokens
        self.webhookTokens = webhookTokens
    }
}

extension SQLStore {
    /// Applies the retention cutoffs to operational data and returns what went, by kind (with `dryRun`, what would go).
    /// Clinical records — prompts, responses, scores, flags, notes, reviews, the audit trail — are never touched; nor
    /// is a reply still waiting to be processed or read in the team inbox.
    public func purge(_ cutoffs: PurgeCutoffs, dryRun: Bool, now: Date) async throws -> [String: Int] {
        let kinds: [(kind: String, count: SQLQueryString, apply: SQLQueryString)] = [
            ("raw reply bodies",
             "SELECT COUNT(*) AS n FROM inbound_replies WHERE status = 'processed' AND body_purged_at_ms IS NULL AND received_at_ms < \(bind: cutoffs.rawReplies.millis)",
             "UPDATE inbound_replies SET raw_body = substr(raw_body, 1, 0), body_purged_at_ms = \(bind: now.millis) WHERE status = 'processed' AND body_purged_at_ms IS NULL AND received_at_ms < \(bind: cutoffs.rawReplies.millis)"),
            ("outbox payloads and error text",
             "SELECT COUNT(*) AS n FROM outbox_messages WHERE status IN ('accepted', 'delivered', 'unknown', 'failed', 'expired') AND payload_purged_at_ms IS NULL AND updated_at_ms < \(bind: cutoffs.outboxPayloads.millis)",
             "UPDATE outbox_messages SET payload = '', last_error = NULL, payload_purged_at_ms = \(bind: now.millis) WHERE status IN ('accepted', 'delivered', 'unknown', 'failed', 'expired') AND payload_purged_at_ms IS NULL AND updated_at_ms < \(bind: cutoffs.outboxPayloads.millis)"),
            ("sandbox messages",
             "SELECT COUNT(*) AS n FROM sandbox_messages WHERE created_at_ms < \(bind: cutoffs.outboxPayloads.millis)",
             "DELETE FROM sandbox_messages WHERE created_at_ms < \(bind: cutoffs.outboxPayloads.millis)"),
            ("check-in drafts",
             "SELECT COUNT(*) AS n FROM checkin_drafts WHERE updated_at_ms < \(bind: cutoffs.expiredTokens.millis)",
             "DELETE FROM checkin_drafts WHERE updated_at_ms < \(bind: cutoffs.expiredTokens.millis)"),
            ("expired link tokens",
             "SELECT COUNT(*) AS n FROM checkin_tokens WHERE expires_at_ms < \(bind: cutoffs.expiredTokens.millis)",
             "DELETE FROM checkin_tokens WHERE expires_at_ms < \(bind: cutoffs.expiredTokens.millis)"),
            ("remembered webhook tokens",
             "SELECT COUNT(*) AS n FROM webhook_tokens WHERE seen_at_ms < \(bind: cutoffs.webhookTokens.millis)",
             "DELETE FROM webhook_tokens WHERE seen_at_ms < \(bind: cutoffs.webhookTokens.millis)"),
            // Kept as long as remembered webhook tokens (a day): the window in which a client may retry.
            ("idempotency keys",
             "SELECT COUNT(*) AS n FROM idempotency_keys WHERE created_at_ms < \(bind: cutoffs.webhookTokens.millis)",
             "DELETE FROM idempotency_keys WHERE created_at_ms < \(bind: cutoffs.webhookTokens.millis)"),
        ]
        return try await transaction { db in
            var counts: [String: Int] = [:]
            for kind in kinds {
                counts[kind.kind] = try await db.raw(kind.count).first()?.decode(column: "n", as: Int.self) ?? 0
                if !dryRun && counts[kind.kind, default: 0] > 0 { try await db.raw(kind.apply).run() }
            }
            if !dryRun {
                try await self.insertAudit(AuditEvent(at: now, actor: "retention", action: "retention.purge", personID: nil,
                                                      detail: counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "), requestID: nil), db: db)
            }
            return counts
        }
    }
}
