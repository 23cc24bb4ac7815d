public import Foundation
import SQLKit

/// An open prompt shown on a person's check-in form.
public struct OpenPrompt: Sendable, Equatable {
    public var id: String
    public var instrument: String
    public var kind: String
    public var closesAt: Date
    /// The code a reply-by-SMS answer names (`P7`), once the prompt has been sent that way.
    public var replyCode: String? = nil
}

/// One instrument's answers from a submitted form, scored, with the flags it raises.
public struct CheckinAnswer: Sendable {
    public var promptID: String
    public var instrument: String
    /// Comma-separated, `-` for unanswered (the stored form of answers).
    public var answers: String
    public var score: NewScore
    public var flags: [NewFlag]

    public init(promptID: String, instrument: String, answers: String, score: NewScore, flags: [NewFlag]) {
        self.promptID = promptID
        self.instrument = instrument
        self.answers = answers
        self.score = score
        self.flags = flags
    }
}

/// A flag to raise for a clinician.
public struct NewFlag: Sendable, Equatable {
    public var kind: String
    /// `urgent` (risk items) or `high`.
    public var severity: String
    /// JSON with the score, item and prompt behind the flag.
    public var evidence: String

    public init(kind: String, severity: String, evidence: String) {
        self.kind = kind
        self.severity = severity
        self.evidence = evidence
    }
}

/// What a check-in submission did.
public enum CheckinResult: Sendable, Equatable {
    case accepted(responses: Int, flags: Int)
    /// The link was used already, or has expired: nothing written.
    case alreadyUsed
}

extension SQLStore {
    /// The person behind a live check-in token (not used, not expired), or nil.
    public func checkinPerson(tokenHash: String, now: Date) async throws -> String? {
        try await read { db in
            try await db.raw("""
                SELECT person_id FROM checkin_tokens WHERE token_hash = \(bind: tokenHash) AND purpose = 'form' AND used_at_ms IS NULL
                AND expires_at_ms > \(bind: now.millis)
                """).first()?.decode(column: "person_id", as: String.self)
        }
    }

    /// The person behind an email reply token (`reply+<token>@…`), while it has not expired. Replies do not use it up:
    /// a person may answer in two emails.
    public func replyPerson(tokenHash: String, now: Date) async throws -> String? {
        try await read { db in
            try await db.raw("""
                SELECT person_id FROM checkin_tokens WHERE token_hash = \(bind: tokenHash) AND purpose = 'reply' AND expires_at_ms > \(bind: now.millis)
                """).first()?.decode(column: "person_id", as: String.self)
        }
    }

    /// A person's prompts that are still open now, oldest first.
    public func openPrompts(personID: String, now: Date) async throws -> [OpenPrompt] {
        try await read { db in
            try await db.raw("""
                SELECT id, instrument, kind, closes_at_ms, reply_code FROM prompts
                WHERE person_id = \(bind: personID) AND status IN ('scheduled', 'sent') AND closes_at_ms > \(bind: now.millis)
                ORDER BY review_at_ms, kind, id
                """).all().map {
                OpenPrompt(id: try $0.decode(column: "id", as: String.self), instrument: try $0.decode(column: "instrument", as: String.self),
                           kind: try $0.decode(column: "kind", as: String.self), closesAt: Date(millis: try $0.decode(column: "closes_at_ms", as: Int64.self)),
                           replyCode: try $0.decode(column: "reply_code", as: String?.self))
            }
        }
    }

    /// The person's first valid score of an instrument (their baseline), as stored answers.
    public func baselineAnswers(personID: String, instrument: String) async throws -> String? {
        try await read { db in
            try await db.raw("""
                SELECT r.answers FROM scores s JOIN responses r ON r.id = s.response_id
                WHERE s.person_id = \(bind: personID) AND s.instrument = \(bind: instrument) AND s.valid = 1 AND s.superseded_by IS NULL
                ORDER BY r.submitted_at_ms, s.id LIMIT 1
                """).first()?.decode(column: "answers", as: String.self)
        }
    }

    /// Consumes the token and stores the raw submission, every response with its score, the answered prompts and the
    /// flags — all in one transaction, so a risk answer is never stored without its flag and a token is never used
    /// up without its answers. Concurrent submissions of one token: exactly one is accepted.
    public func submitCheckin(tokenHash: String, personID: String, rawBody: [UInt8], answers: [CheckinAnswer], now: Date) async throws -> CheckinResult {
        let stamp = now.millis
        return try await transaction { db in
            let consumed = try await db.raw("""
                UPDATE checkin_tokens SET used_at_ms = \(bind: stamp)
                WHERE token_hash = \(bind: tokenHash) AND purpose = 'form' AND used_at_ms IS NULL AND expires_at_ms > \(bind: stamp) RETURNING token_hash
                """).first()
            guard consumed != nil else { return .alreadyUsed }
            // The saved draft is superseded by the answers sent.
            try await db.raw("DELETE FROM checkin_drafts WHERE token_hash = \(bind: tokenHash)").run()
            let replyID = "in_" + newID()
            try await Self.insertRawReply(db, id: replyID, source: "form", gateway: "checkin", eventID: replyID,
                                          contentType: "application/x-www-form-urlencoded", body: rawBody, personID: personID, now: stamp)
            let flags = try await Self.insertScored(db, answers, personID: personID, source: "form", replyID: replyID, requireOpenPrompt: true, now: stamp)
            return .accepted(responses: answers.count, flags: flags)
        }
    }

    /// Stores an API or paper response: the raw body first, then the response, its score and flags, in one transaction.
    /// A repeated `eventID` from the same source stores nothing and returns false.
    public func submitResponse(source: String, eventID: String?, personID: String, rawBody: [UInt8], contentType: String,
                               answer: CheckinAnswer, now: Date) async throws -> Bool {
        let stamp = now.millis
        return try await transaction { db in
            let replyID = "in_" + newID()
            let inserted = try await db.raw("""
                INSERT INTO inbound_replies (id, source, gateway, provider_event_id, content_type, raw_body, status, person_id, received_at_ms, processed_at_ms)
                VALUES (\(bind: replyID), \(bind: source), \(bind: source), \(bind: eventID ?? replyID), \(bind: contentType), \(bind: Data(rawBody)), 'processed',
                        \(bind: personID), \(bind: stamp), \(bind: stamp))
                ON CONFLICT (source, gateway, provider_event_id) DO NOTHING RETURNING id
                """).first()
            guard inserted != nil else { return false }
            _ = try await Self.insertScored(db, [answer], personID: personID, source: source, replyID: replyID, requireOpenPrompt: false, now: stamp)
            return true
        }
    }

    static func insertRawReply(_ db: any SQLDatabase, id: String, source: String, gateway: String, eventID: String, contentType: String,
                               body: [UInt8], personID: String?, now: Int64) async throws {
        try await db.raw("""
            INSERT INTO inbound_replies (id, source, gateway, provider_event_id, content_type, raw_body, status, person_id, received_at_ms, processed_at_ms)
            VALUES (\(bind: id), \(bind: source), \(bind: gateway), \(bind: eventID), \(bind: contentType), \(bind: Data(body)), 'processed',
                    \(bind: personID), \(bind: now), \(bind: now))
            """).run()
    }

    /// Flags that describe a lasting state rather than a single answer.
    static let standingFlagKinds: Set<String> = ["reliable_deterioration", "severe_band"]

    /// Responses, scores and flags for answers; marks their prompts answered. Returns how many flags were raised.
    static func insertScored(_ db: any SQLDatabase, _ answers: [CheckinAnswer], personID: String, source: String, replyID: String,
                             requireOpenPrompt: Bool, now stamp: Int64) async throws -> Int {
        var flags = 0
        for answer in answers {
            if !answer.promptID.isEmpty {
                let open = try await db.raw("""
                    UPDATE prompts SET status = 'answered', answered_at_ms = \(bind: stamp)
                    WHERE id = \(bind: answer.promptID) AND person_id = \(bind: personID) AND status IN ('scheduled', 'sent') RETURNING id
                    """).first()
                if open == nil && requireOpenPrompt { continue }
            }
            let responseID = "rs_" + newID()
            let scoreID = "sc_" + newID()
            try await db.raw("""
                INSERT INTO responses (id, prompt_id, person_id, instrument, answers, context, source, inbound_reply_id, submitted_at_ms, created_at_ms)
                VALUES (\(bind: responseID), \(bind: answer.promptID.isEmpty ? nil : answer.promptID), \(bind: personID), \(bind: answer.instrument),
                        \(bind: answer.answers), '', \(bind: source), \(bind: replyID), \(bind: stamp), \(bind: stamp))
                """).run()
            try await db.raw("""
                INSERT INTO scores (id, response_id, person_id, instrument, definition_version, valid, total, band, result, created_at_ms)
                VALUES (\(bind: scoreID), \(bind: responseID), \(bind: personID), \(bind: answer.instrument), \(bind: answer.score.definitionVersion),
                        \(bind: answer.score.valid ? 1 : 0), \(bind: answer.score.total), \(bind: answer.score.band), \(bind: answer.score.result), \(bind: stamp))
                """).run()
            for flag in answer.flags {
                // A standing state (still deteriorated, still severe) is one flag until a clinician actions it, not one per
                // check-in; risk answers are new evidence every time and always raise.
                if Self.standingFlagKinds.contains(flag.kind) {
                    let existing = try await db.raw("""
                        SELECT 1 AS hit FROM flags f JOIN scores s ON s.id = f.score_id
                        WHERE f.person_id = \(bind: personID) AND f.kind = \(bind: flag.kind) AND s.instrument = \(bind: answer.instrument)
                        AND f.status IN ('open', 'acknowledged') LIMIT 1
                        """).first()
                    if existing != nil { continue }
                }
                try await db.raw("""
                    INSERT INTO flags (id, person_id, kind, severity, status, evidence, prompt_id, score_id, raised_at_ms)
                    VALUES (\(bind: "fl_" + newID()), \(bind: personID), \(bind: flag.kind), \(bind: flag.severity), 'open', \(bind: flag.evidence),
                            \(bind: answer.promptID.isEmpty ? nil : answer.promptID), \(bind: scoreID), \(bind: stamp))
                    """).run()
                flags += 1
            }
        }
        return flags
    }

    /// Open flags for a person, newest first: (kind, severity, evidence).
    public func openFlags(personID: String) async throws -> [(kind: String, severity: String, evidence: String)] {
        try await read { db in
            try await db.raw("SELECT kind, severity, evidence FROM flags WHERE person_id = \(bind: personID) AND status = 'open' ORDER BY raised_at_ms DESC, id").all().map {
                (try $0.decode(column: "kind", as: String.self), try $0.decode(column: "severity", as: String.self), try $0.decode(column: "evidence", as: String.self))
            }
        }
    }
}

extension SQLStore {
    /// Saves a partly answered form for its token (the form fields as sent), replacing an earlier save, and raises
    /// `riskFlags` in the same transaction unless the same flag for the same prompt was raised from a save before.
    public func saveDraft(tokenHash: String, personID: String, fields: String, riskFlags: [(promptID: String, flag: NewFlag)], now: Date) async throws {
        let stamp = now.millis
        try await transaction { db in
            try await db.raw("""
                INSERT INTO checkin_drafts (token_hash, person_id, answers, updated_at_ms) VALUES (\(bind: tokenHash), \(bind: personID), \(bind: fields), \(bind: stamp))
                ON CONFLICT (token_hash) DO UPDATE SET answers = excluded.answers, updated_at_ms = excluded.updated_at_ms
                """).run()
            for (promptID, flag) in riskFlags {
                let existing = try await db.raw("""
                    SELECT 1 AS hit FROM flags WHERE person_id = \(bind: personID) AND prompt_id = \(bind: promptID) AND kind = \(bind: flag.kind) LIMIT 1
                    """).first()
                guard existing == nil else { continue }
                try await db.raw("""
                    INSERT INTO flags (id, person_id, kind, severity, status, evidence, prompt_id, raised_at_ms)
                    VALUES (\(bind: "fl_" + newID()), \(bind: personID), \(bind: flag.kind), \(bind: flag.severity), 'open', \(bind: flag.evidence),
                            \(bind: promptID), \(bind: stamp))
                    """).run()
            }
        }
    }

    /// The saved form fields for a token, if any.
    public func draft(tokenHash: String) async throws -> String? {
        try await read { db in
            try await db.raw("SELECT answers FROM checkin_drafts WHERE token_hash = \(bind: tokenHash)").first()?.decode(column: "answers", as: String.self)
        }
    }
}
