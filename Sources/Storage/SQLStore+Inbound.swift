public import Foundation
public import Intake
import SQLKit

/// A stored inbound SMS or email, after the keyword step.
public struct ReceivedSMS: Sendable, Equatable {
    public var replyID: String
    /// The person whose number sent it, if it is one of ours.
    public var personID: String?

    public init(replyID: String, personID: String?) {
        self.replyID = replyID
        self.personID = personID
    }
}

extension SQLStore {
    /// Stores a provider's inbound SMS once per provider message id. An opt-out or opt-in keyword is recorded in the
    /// same transaction as the message (R21). Returns nil for a duplicate delivery.
    public func receiveSMS(gateway: String, eventID: String, from: String, rawBody: [UInt8], contentType: String, optIn: Bool?,
                           now: Date) async throws -> ReceivedSMS? {
        let stamp = now.millis
        return try await transaction { db in
            let person = try await db.raw("""
                SELECT person_id FROM contact_points WHERE channel = 'sms' AND address = \(bind: from) LIMIT 1
                """).first()?.decode(column: "person_id", as: String.self)
            let id = "in_" + newID()
            let inserted = try await db.raw("""
                INSERT INTO inbound_replies (id, source, gateway, provider_event_id, content_type, raw_body, status, person_id, received_at_ms)
                VALUES (\(bind: id), 'sms', \(bind: gateway), \(bind: eventID), \(bind: contentType), \(bind: Data(rawBody)), 'received', \(bind: person), \(bind: stamp))
                ON CONFLICT (source, gateway, provider_event_id) DO NOTHING RETURNING id
                """).first()
            guard inserted != nil else { return nil }
            if let optIn, let person {
                try await Self.insertConsent(db, personID: person, channel: "sms", optedIn: optIn, source: "sms_keyword", inboundReplyID: id, now: stamp)
                try await db.raw("UPDATE inbound_replies SET status = 'processed', reason = \(bind: optIn ? "opt_in" : "opt_out"), processed_at_ms = \(bind: stamp) WHERE id = \(bind: id)").run()
            }
            return ReceivedSMS(replyID: id, personID: person)
        }
    }

    /// Stores a parsed-email webhook once per provider id, for the person its reply address names (nil when it names
    /// nobody we know). Returns nil for a duplicate delivery.
    public func receiveEmail(gateway: String, eventID: String, personID: String?, rawBody: [UInt8], contentType: String, now: Date) async throws -> ReceivedSMS? {
        try await transaction { db in
            let id = "in_" + newID()
            let inserted = try await db.raw("""
                INSERT INTO inbound_replies (id, source, gateway, provider_event_id, content_type, raw_body, status, person_id, received_at_ms)
                VALUES (\(bind: id), 'email', \(bind: gateway), \(bind: eventID), \(bind: contentType), \(bind: Data(rawBody)), 'received', \(bind: personID),
                        \(bind: now.millis))
                ON CONFLICT (source, gateway, provider_event_id) DO NOTHING RETURNING id
                """).first()
            return inserted == nil ? nil : ReceivedSMS(replyID: id, personID: personID)
        }
    }

    /// Binds a signed webhook token to the body it came with, for the replay window: true for the first sight or an
    /// identical retry, false when the token comes back with another body (a replay). Tokens older than `window` are
    /// forgotten as new ones arrive.
    public func bindWebhookToken(gateway: String, token: String, bodyHash: String, window: TimeInterval, now: Date) async throws -> Bool {
        let stamp = now.millis
        return try await transaction { db in
            try await db.raw("DELETE FROM webhook_tokens WHERE seen_at_ms < \(bind: stamp - Int64(window * 2_000))").run()
            try await db.raw("""
                INSERT INTO webhook_tokens (gateway, token, body_hash, seen_at_ms) VALUES (\(bind: gateway), \(bind: token), \(bind: bodyHash), \(bind: stamp))
                ON CONFLICT (gateway, token) DO NOTHING
                """).run()
            let seen = try await db.raw("SELECT body_hash FROM webhook_tokens WHERE gateway = \(bind: gateway) AND token = \(bind: token)").first()?
                .decode(column: "body_hash", as: String.self)
            return seen == bodyHash
        }
    }

    /// Stores a check-in form submission raw, unprocessed, when none of it could be scored (it goes to the team inbox
    /// next). Returns its id, or nil when the same submission was stored before.
    public func receiveForm(eventID: String, personID: String, rawBody: [UInt8], now: Date) async throws -> String? {
        try await transaction { db in
            let id = "in_" + newID()
            return try await Self.insertRawReply(db, id: id, source: "form", gateway: "checkin", eventID: eventID,
                                                 contentType: "application/x-www-form-urlencoded", body: rawBody, personID: personID,
                                                 status: "received", now: now.millis) ? id : nil
        }
    }

    /// Keeps a reply that could not be used, with the reason, for a person to act on (the team inbox). Nothing is
    /// dropped. `flags` (a risk phrase in the text) are raised in the same transaction.
    public func quarantine(replyID: String, reason: String, flags: [NewFlag] = [], now: Date) async throws {
        _ = try await finishReply(replyID: replyID, outcome: .quarantined(reason: reason, flags: flags), now: now)
    }

    /// How a stored reply ends when it is not scored.
    public enum ReplyOutcome: Sendable {
        /// Kept for the team inbox with its reason (and any flags its text raised).
        case quarantined(reason: String, flags: [NewFlag])
        case processed(reason: String?)
    }

    /// A keyword's consent change, recorded with the reply that asked for it.
    public struct KeywordConsent: Sendable {
        public var channel: String
        public var optedIn: Bool

        public init(channel: String, optedIn: Bool) {
            self.channel = channel
            self.optedIn = optedIn
        }
    }

    /// Ends a stored reply in one transaction (one commit, where three separate writes took three): its status and
    /// reason, the flags its text raised, a keyword's consent and the automatic answer to the person, all or none.
    /// Only a reply still `received` is ended, so a second run (the sweeper racing a slow request) writes nothing and
    /// sends no second answer. Returns whether this call ended it.
    @discardableResult
    public func finishReply(replyID: String, outcome: ReplyOutcome, consent: KeywordConsent? = nil, autoReply: AutoReply? = nil,
                            now: Date) async throws -> Bool {
        try await transaction { db in
            let (status, reason, flags): (String, String?, [NewFlag])
            switch outcome {
            case .quarantined(let why, let raised): (status, reason, flags) = ("quarantined", why, raised)
            case .processed(let why): (status, reason, flags) = ("processed", why, [])
            }
            let row = try await db.raw("""
                UPDATE inbound_replies SET status = \(bind: status), reason = \(bind: reason), processed_at_ms = \(bind: now.millis)
                WHERE id = \(bind: replyID) AND status = 'received' RETURNING person_id
                """).first()
            guard let row else { return false }
            guard let person = try row.decode(column: "person_id", as: String?.self) else { return true }
            _ = try await Self.insertFlags(db, flags, personID: person, replyID: replyID, now: now.millis)
            if let consent {
                try await Self.insertConsent(db, personID: person, channel: consent.channel, optedIn: consent.optedIn, source: "sms_keyword",
                                             inboundReplyID: replyID, now: now.millis)
            }
            if let autoReply { _ = try await Self.queueReply(db, personID: person, replyID: replyID, autoReply, now: now) }
            return true
        }
    }

    /// Scores a stored reply: responses, scores and flags written and the reply marked processed, in one transaction.
    /// Processed once: a second run (the sweeper racing a slow request) finds it done and writes nothing. Returns
    /// whether this call processed it.
    @discardableResult
    public func storeScoredReply(replyID: String, personID: String, source: String, answers: [CheckinAnswer], flags: [NewFlag] = [],
                                 now: Date) async throws -> Bool {
        let stamp = now.millis
        return try await transaction { db in
            let claimed = try await db.raw("""
                UPDATE inbound_replies SET status = 'processed', processed_at_ms = \(bind: stamp) WHERE id = \(bind: replyID) AND status = 'received' RETURNING id
                """).first()
            guard claimed != nil else { return false }
            _ = try await Self.insertScored(db, answers, personID: personID, source: source, replyID: replyID, now: stamp)
            _ = try await Self.insertFlags(db, flags, personID: personID, replyID: replyID, now: stamp)
            return true
        }
    }

    /// Inbound replies as (status, reason), oldest first, for ops and tests.
    public func inboundReplies(source: String) async throws -> [(status: String, reason: String?)] {
        try await read { db in
            try await db.raw("SELECT status, reason FROM inbound_replies WHERE source = \(bind: source) ORDER BY received_at_ms, \(insertionOrder)").all().map {
                (try $0.decode(column: "status", as: String.self), try $0.decode(column: "reason", as: String?.self))
            }
        }
    }
}

/// An inbound SMS stored raw but not yet processed (the service stopped between storing and scoring it).
public struct PendingSMS: Sendable {
    public var replyID: String
    public var gateway: String
    public var personID: String?
    public var rawBody: [UInt8]
    public var contentType: String
}

extension SQLStore {
    /// Replies from `source` (sms, email) stored but never processed, oldest first.
    public func pendingReplies(source: String, receivedBefore: Date? = nil, limit: Int = 500) async throws -> [PendingSMS] {
        let before = receivedBefore?.millis ?? Int64.max
        return try await read { db in
            try await db.raw("""
                SELECT id, gateway, person_id, raw_body, content_type FROM inbound_replies
                WHERE source = \(bind: source) AND status = 'received' AND received_at_ms < \(bind: before) ORDER BY received_at_ms, \(insertionOrder) LIMIT \(literal: limit)
                """).all().map(Self.pendingReply)
        }
    }

    /// One reply still waiting to be processed, with its source (`sms`, `email`); nil once processed or quarantined.
    public func pendingReply(id: String) async throws -> (source: String, reply: PendingSMS)? {
        try await read { db in
            try await db.raw("""
                SELECT id, source, gateway, person_id, raw_body, content_type FROM inbound_replies WHERE id = \(bind: id) AND status = 'received'
                """).first().map { (try $0.decode(column: "source", as: String.self), try Self.pendingReply($0)) }
        }
    }

    static func pendingReply(_ row: any SQLRow) throws -> PendingSMS {
        PendingSMS(replyID: try row.decode(column: "id", as: String.self), gateway: try row.decode(column: "gateway", as: String.self),
                   personID: try row.decode(column: "person_id", as: String?.self),
                   rawBody: Array(try row.decode(column: "raw_body", as: Data.self)),
                   contentType: try row.decode(column: "content_type", as: String?.self) ?? "")
    }
}
