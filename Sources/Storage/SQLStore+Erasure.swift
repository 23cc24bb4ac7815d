public import Foundation
import SQLKit

/// What an erasure blanked, by kind.
public struct ErasureReport: Sendable, Equatable, Codable {
    /// Addresses blanked on the person's contact points.
    public var addresses: Int
    /// Raw replies whose body held one of the addresses (the address is replaced, the rest of the reply is kept).
    public var rawReplies: Int
    /// Sandbox copies of messages to the person.
    public var sandboxMessages: Int
    /// Messages still waiting to go to the person: each fails as `contact erased` when the dispatcher reaches it.
    public var queuedMessages: Int

    enum CodingKeys: String, CodingKey {
        case addresses, rawReplies = "raw_replies", sandboxMessages = "sandbox_messages", queuedMessages = "queued_messages"
    }
}

/// A person's whole stored record beyond the care record's scores, for a subject access request.
public struct SubjectAccessRecords: Sendable {
    public struct RawReply: Sendable, Encodable {
        public var id: String
        public var source: String
        public var gateway: String
        public var receivedAt: Date
        public var status: String
        public var reason: String?
        public var contentType: String?
        /// The body as received (UTF-8), or nil when retention emptied it or it is not text.
        public var body: String?
        /// The body in base 64 when it is not UTF-8 text.
        public var bodyBase64: String?
        public var bodyPurgedAt: Date?

        enum CodingKeys: String, CodingKey {
            case id, source, gateway, status, reason, body
            case receivedAt = "received_at", contentType = "content_type", bodyBase64 = "body_base64", bodyPurgedAt = "body_purged_at"
        }
    }

    public struct Message: Sendable, Encodable {
        public var id: String
        public var purpose: String
        public var channel: String
        public var gateway: String
        public var status: String
        public var attempts: Int
        public var createdAt: Date
        public var updatedAt: Date
        public var reason: String?
        /// The prompts the message asked about.
        public var prompts: [String]

        enum CodingKeys: String, CodingKey {
            case id, purpose, channel, gateway, status, attempts, reason, prompts
            case createdAt = "created_at", updatedAt = "updated_at"
        }
    }

    public struct AccessEvent: Sendable, Encodable {
        public var at: Date
        public var actor: String
        public var action: String
        public var detail: String?
    }

    public var rawReplies: [RawReply]
    public var messages: [Message]
    /// Every audited action on the record: who read it, changed it, and when.
    public var audit: [AccessEvent]
}

extension SQLStore {
    /// Blanks a person's phone and email wherever they are stored and stops all contact, keeping the care record
    /// (prompts, responses, scores, flags, reviews, notes, audit): the contact points' addresses, the sandbox copies
    /// of messages to them, and every raw reply that carries one of them (the address is replaced by `[erased]`, the
    /// rest of the reply stays, so an unread answer is never lost). The dispatcher checks erasure just before each send,
    /// so nothing more goes to the person. Nil when there is no such person.
    public func eraseContact(personID: String, actor: String = "system", requestID: String? = nil, now: Date) async throws -> ErasureReport? {
        let stamp = now.millis
        return try await transaction { db in
            guard try await db.raw("SELECT id FROM people WHERE id = \(bind: personID)").first() != nil else { return nil }
            let addresses = try await db.raw("SELECT address FROM contact_points WHERE person_id = \(bind: personID) AND address IS NOT NULL")
                .all().map { try $0.decode(column: "address", as: String.self) }
            try await db.raw("UPDATE contact_points SET address = NULL, suppressed_at_ms = COALESCE(suppressed_at_ms, \(bind: stamp)) WHERE person_id = \(bind: personID)").run()
            try await db.raw("UPDATE people SET contact_erased_at_ms = COALESCE(contact_erased_at_ms, \(bind: stamp)), updated_at_ms = \(bind: stamp) WHERE id = \(bind: personID)").run()
            var report = ErasureReport(addresses: addresses.count, rawReplies: 0, sandboxMessages: 0, queuedMessages: 0)
            let needles = ContactRedaction.needles(for: addresses)
            if !needles.isEmpty {
                // The person's own replies, and replies nobody could match (an unknown number may have been theirs).
                let replies = try await db.raw("SELECT id, raw_body FROM inbound_replies WHERE person_id = \(bind: personID) OR person_id IS NULL").all()
                for row in replies {
                    let body = Array(try row.decode(column: "raw_body", as: Data.self))
                    let redacted = ContactRedaction.redact(body, needles: needles)
                    guard redacted != body else { continue }
                    try await db.raw("UPDATE inbound_replies SET raw_body = \(bind: Data(redacted)) WHERE id = \(bind: try row.decode(column: "id", as: String.self))").run()
                    report.rawReplies += 1
                }
                let recipients = boundSet(db, addresses)
                report.sandboxMessages = try await db.raw("SELECT COUNT(*) AS n FROM sandbox_messages WHERE recipient IN \(recipients)").first()?
                    .decode(column: "n", as: Int.self) ?? 0
                try await db.raw("UPDATE sandbox_messages SET recipient = '[erased]', body = '', subject = NULL, link = NULL WHERE recipient IN \(recipients)").run()
            }
            // Messages still queued for the person stay queued and fail as `contact erased` at their claim, through the
            // dispatcher's own send-time check (prompts and fallbacks then move as for any refusal); staff alerts still go.
            report.queuedMessages = try await db.raw("""
                SELECT COUNT(*) AS n FROM outbox_messages WHERE person_id = \(bind: personID) AND status = 'queued'
                AND purpose NOT IN \(boundSet(db, OutboxPurpose.staff.sorted()))
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "person.erase_contact", personID: personID,
                                                  detail: "\(report.addresses) addresses, \(report.rawReplies) raw replies redacted, \(report.sandboxMessages) sandbox messages, \(report.queuedMessages) queued messages to stop",
                                                  requestID: requestID), db: db)
            return report
        }
    }

    /// The person's raw replies, the messages sent to them and every audited action on their record, oldest first.
    public func subjectAccessRecords(personID: String) async throws -> SubjectAccessRecords {
        try await read { db in
            let replies = try await db.raw("""
                SELECT id, source, gateway, received_at_ms, status, reason, content_type, raw_body, body_purged_at_ms FROM inbound_replies
                WHERE person_id = \(bind: personID) ORDER BY received_at_ms, id
                """).all().map { row -> SubjectAccessRecords.RawReply in
                let body = try row.decode(column: "raw_body", as: Data.self)
                let text = String(validating: body, as: UTF8.self)
                return SubjectAccessRecords.RawReply(
                    id: try row.decode(column: "id", as: String.self), source: try row.decode(column: "source", as: String.self),
                    gateway: try row.decode(column: "gateway", as: String.self), receivedAt: Date(millis: try row.decode(column: "received_at_ms", as: Int64.self)),
                    status: try row.decode(column: "status", as: String.self), reason: try row.decode(column: "reason", as: String?.self),
                    contentType: try row.decode(column: "content_type", as: String?.self), body: body.isEmpty ? nil : text,
                    bodyBase64: text == nil && !body.isEmpty ? body.base64EncodedString() : nil,
                    bodyPurgedAt: try row.decode(column: "body_purged_at_ms", as: Int64?.self).map(Date.init(millis:)))
            }
            let rows = try await db.raw("""
                SELECT id, purpose, channel, gateway, status, attempt, created_at_ms, updated_at_ms, last_error FROM outbox_messages
                WHERE person_id = \(bind: personID) ORDER BY created_at_ms, id
                """).all()
            var carried: [String: [String]] = [:]
            for row in try await db.raw("""
                SELECT l.message_id, l.prompt_id FROM outbox_prompts l JOIN outbox_messages o ON o.id = l.message_id
                WHERE o.person_id = \(bind: personID) ORDER BY l.message_id, l.prompt_id
                """).all() {
                carried[try row.decode(column: "message_id", as: String.self), default: []].append(try row.decode(column: "prompt_id", as: String.self))
            }
            let messages = try rows.map { row in
                SubjectAccessRecords.Message(
                    id: try row.decode(column: "id", as: String.self), purpose: try row.decode(column: "purpose", as: String.self),
                    channel: try row.decode(column: "channel", as: String.self), gateway: try row.decode(column: "gateway", as: String.self),
                    status: try row.decode(column: "status", as: String.self), attempts: try row.decode(column: "attempt", as: Int.self),
                    createdAt: Date(millis: try row.decode(column: "created_at_ms", as: Int64.self)),
                    updatedAt: Date(millis: try row.decode(column: "updated_at_ms", as: Int64.self)),
                    reason: try row.decode(column: "last_error", as: String?.self),
                    prompts: carried[try row.decode(column: "id", as: String.self)] ?? [])
            }
            let audit = try await db.raw("SELECT at_ms, actor, action, detail FROM audit_events WHERE person_id = \(bind: personID) ORDER BY at_ms, id").all().map { row in
                SubjectAccessRecords.AccessEvent(at: Date(millis: try row.decode(column: "at_ms", as: Int64.self)), actor: try row.decode(column: "actor", as: String.self),
                                                 action: try row.decode(column: "action", as: String.self), detail: try row.decode(column: "detail", as: String?.self))
            }
            return SubjectAccessRecords(rawReplies: replies, messages: messages, audit: audit)
        }
    }
}

/// Finds a person's addresses in stored bytes in the forms providers send them: as written, form-encoded
/// (`%2B447700900001`, `ana%40example.org`) and a phone number's digits without its `+`; letters match in any case.
enum ContactRedaction {
    static let replacement = Array("[erased]".utf8)

    /// The byte strings to look for, longest first so that `%2B44…` goes before the `44…` inside it.
    static func needles(for addresses: [String]) -> [[UInt8]] {
        var forms = Set<String>()
        for address in addresses where !address.isEmpty {
            forms.insert(address)
            if address.hasPrefix("+") {
                let digits = String(address.dropFirst())
                forms.insert("%2B" + digits)
                if digits.count >= 6 { forms.insert(digits) }
            }
            if address.contains("@") { forms.insert(address.replacingOccurrences(of: "@", with: "%40")) }
        }
        return forms.map { $0.lowercased() }.sorted { ($0.utf8.count, $0) > ($1.utf8.count, $1) }.map { Array($0.utf8) }
    }

    /// `bytes` with every needle replaced by `[erased]` (ASCII letters compared without case).
    static func redact(_ bytes: [UInt8], needles: [[UInt8]]) -> [UInt8] {
        var current = bytes
        for needle in needles where !needle.isEmpty {
            var output: [UInt8] = []
            output.reserveCapacity(current.count)
            var index = 0
            while index < current.count {
                if index + needle.count <= current.count && matches(current, at: index, needle) {
                    output += replacement
                    index += needle.count
                } else {
                    output.append(current[index])
                    index += 1
                }
            }
            current = output
        }
        return current
    }

    private static func matches(_ bytes: [UInt8], at start: Int, _ needle: [UInt8]) -> Bool {
        for offset in 0..<needle.count {
            var byte = bytes[start + offset]
            if byte >= 65 && byte <= 90 { byte += 32 }
            if byte != needle[offset] { return false }
        }
        return true
    }
}
