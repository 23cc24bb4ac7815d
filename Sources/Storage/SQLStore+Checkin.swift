public import Foundation
public import Intake
import SQLKit

/// What a check-in submission did.
public enum CheckinResult: Sendable, Equatable {
    /// Stored: `late` answers counted for prompts past closing, `unsolicited` were kept without a prompt.
    case accepted(responses: Int, flags: Int, late: Int, unsolicited: Int)
    /// The same submission was received before: nothing new written.
    case duplicate
}

/// A check-in link as stored, used or expired or not.
public struct CheckinLink: Sendable, Equatable {
    public var personID: String
    public var used: Bool
    public var expiresAt: Date
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

    /// A check-in link whatever its state: answers sent to a used or expired link still belong to its person.
    public func checkinLink(tokenHash: String) async throws -> CheckinLink? {
        try await read { db in
            guard let row = try await db.raw("""
                SELECT person_id, used_at_ms, expires_at_ms FROM checkin_tokens WHERE token_hash = \(bind: tokenHash) AND purpose = 'form'
                """).first() else { return nil }
            return CheckinLink(personID: try row.decode(column: "person_id", as: String.self),
                               used: try row.decode(column: "used_at_ms", as: Int64?.self) != nil,
                               expiresAt: Date(millis: try row.decode(column: "expires_at_ms", as: Int64.self)))
        }
    }

    /// The person behind an email reply token (`reply+<token>@…`) and the prompts of the message it was sent with
    /// (empty for tokens from before they were recorded). Replies do not use the token up (a person may answer in two
    /// emails), and a reply after the check-in closed still belongs to its person: correlation decides what counts.
    public func replyTarget(tokenHash: String) async throws -> (personID: String, promptIDs: [String])? {
        try await read { db in
            guard let row = try await db.raw("""
                SELECT person_id, message_prompts FROM checkin_tokens WHERE token_hash = \(bind: tokenHash) AND purpose = 'reply'
                """).first() else { return nil }
            let prompts = try row.decode(column: "message_prompts", as: String?.self)?.split(separator: ",").map(String.init) ?? []
            return (try row.decode(column: "person_id", as: String.self), prompts)
        }
    }

    /// A person's prompts that are still open now, oldest first.
    public func openPrompts(personID: String, now: Date) async throws -> [OpenPrompt] {
        try await recentPrompts(personID: personID, closedAfter: now).filter { $0.isOpen(at: now) }
    }

    /// A person's prompts that a reply may concern: every prompt closing after `closedAfter`, whatever its status,
    /// oldest review first.
    public func recentPrompts(personID: String, closedAfter: Date) async throws -> [OpenPrompt] {
        try await read { db in
            try await db.raw("""
                SELECT id, instrument, kind, closes_at_ms, reply_code, status, status_reason FROM prompts
                WHERE person_id = \(bind: personID) AND closes_at_ms > \(bind: closedAfter.millis)
                ORDER BY review_at_ms, kind, id
                """).all().map {
                OpenPrompt(id: try $0.decode(column: "id", as: String.self), instrument: try $0.decode(column: "instrument", as: String.self),
                           kind: try $0.decode(column: "kind", as: String.self), closesAt: Date(millis: try $0.decode(column: "closes_at_ms", as: Int64.self)),
                           replyCode: try $0.decode(column: "reply_code", as: String?.self), status: try $0.decode(column: "status", as: String.self),
                           statusReason: try $0.decode(column: "status_reason", as: String?.self))
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

    /// Stores a check-in form submission: the raw body, every response with its score (on time, late, or kept as
    /// unsolicited), the answered prompts and the flags — in one transaction, so a risk answer is never stored without
    /// its flag. The link is used up by the first submission; `eventID` (the link and the body's hash) makes a repeat
    /// of the same submission a duplicate, so twenty concurrent sends store one.
    public func submitCheckin(tokenHash: String, eventID: String, personID: String, rawBody: [UInt8], answers: [CheckinAnswer],
                              flags extra: [NewFlag] = [], now: Date) async throws -> CheckinResult {
        let stamp = now.millis
        return try await transaction { db in
            let replyID = "in_" + newID()
            guard try await Self.insertRawReply(db, id: replyID, source: "form", gateway: "checkin", eventID: eventID,
                                                contentType: "application/x-www-form-urlencoded", body: rawBody, personID: personID,
                                                status: "processed", now: stamp) else { return .duplicate }
            try await db.raw("""
                UPDATE checkin_tokens SET used_at_ms = \(bind: stamp) WHERE token_hash = \(bind: tokenHash) AND purpose = 'form' AND used_at_ms IS NULL
                """).run()
            // The saved draft is superseded by the answers sent.
            try await db.raw("DELETE FROM checkin_drafts WHERE token_hash = \(bind: tokenHash)").run()
            let written = try await Self.insertScored(db, answers, personID: personID, source: "form", replyID: replyID, now: stamp)
            let flags = try await Self.insertFlags(db, extra, personID: personID, replyID: replyID, now: stamp)
            return .accepted(responses: answers.count, flags: written.flags + flags, late: written.late, unsolicited: written.unsolicited)
        }
    }

    /// Stores an API or paper response: the raw body first, then the response, its score and flags, in one transaction.
    /// A repeated `eventID` from the same source stores nothing and returns false.
    public func submitResponse(source: String, eventID: String?, personID: String, rawBody: [UInt8], contentType: String,
                               answer: CheckinAnswer, now: Date) async throws -> Bool {
        let stamp = now.millis
        return try await transaction { db in
            let replyID = "in_" + newID()
            guard try await Self.insertRawReply(db, id: replyID, source: source, gateway: source, eventID: eventID ?? replyID, contentType: contentType,
                                                body: rawBody, personID: personID, status: "processed", now: stamp) else { return false }
            _ = try await Self.insertScored(db, [answer], personID: personID, source: source, replyID: replyID, now: stamp)
            return true
        }
    }

    /// Inserts a raw reply unless the same (source, gateway, event) is stored; returns whether it was inserted.
    static func insertRawReply(_ db: any SQLDatabase, id: String, source: String, gateway: String, eventID: String, contentType: String,
                               body: [UInt8], personID: String?, status: String, now: Int64) async throws -> Bool {
        try await db.raw("""
            INSERT INTO inbound_replies (id, source, gateway, provider_event_id, content_type, raw_body, status, person_id, received_at_ms, processed_at_ms)
            VALUES (\(bind: id), \(bind: source), \(bind: gateway), \(bind: eventID), \(bind: contentType), \(bind: Data(body)), \(bind: status),
                    \(bind: personID), \(bind: now), \(bind: status == "received" ? Int64?.none : now))
            ON CONFLICT (source, gateway, provider_event_id) DO NOTHING RETURNING id
            """).first() != nil
    }

    /// Responses, scores and flags for answers. An answer placed on a prompt answers it (late when marked so); when
    /// the prompt can no longer take it (answered or replanned meanwhile) it is kept as unsolicited with the reason —
    /// never skipped. Returns the flags raised and how many answers were late or unsolicited.
    static func insertScored(_ db: any SQLDatabase, _ answers: [CheckinAnswer], personID: String, source: String, replyID: String,
                             now stamp: Int64) async throws -> (flags: Int, late: Int, unsolicited: Int) {
        var flags = 0, late = 0, unsolicited = 0
        for var answer in answers {
            if answer.unsolicitedReason == nil && !answer.promptID.isEmpty {
                // Open prompts, and prompts that closed (not replanned) when the answer is inside the grace.
                let answered = try await db.raw("""
                    UPDATE prompts SET status = 'answered', answered_at_ms = \(bind: stamp), answered_late = \(bind: answer.late ? 1 : 0),
                           status_reason = \(bind: answer.late ? "late" : nil)
                    WHERE id = \(bind: answer.promptID) AND person_id = \(bind: personID)
                    AND (status IN ('scheduled', 'sent') OR (\(bind: answer.late ? 1 : 0) = 1 AND status = 'expired' AND status_reason = 'closed'))
                    RETURNING id, enrolment_id
                    """).first()
                if let answered {
                    // The scheduler looks at the enrolment again at its next tick (an answer ends a non-response streak).
                    try await markForScheduler(db, "id = \(bind: try answered.decode(column: "enrolment_id", as: String.self))")
                } else {
                    let row = try await db.raw("SELECT status, status_reason FROM prompts WHERE id = \(bind: answer.promptID)").first()
                    let status = try row?.decode(column: "status", as: String.self)
                    let reason = try row?.decode(column: "status_reason", as: String?.self)
                    answer.unsolicitedReason = status == nil ? "unknown_prompt" : status == "answered" ? "already_answered" : (reason == "replanned" ? "replanned" : "after_grace")
                    answer.aboutPromptID = answer.promptID
                    answer.promptID = ""
                    answer.late = false
                }
            }
            if answer.late { late += 1 }
            if answer.unsolicitedReason != nil { unsolicited += 1 }
            let responseID = "rs_" + newID()
            let scoreID = "sc_" + newID()
            try await db.raw("""
                INSERT INTO responses (id, prompt_id, person_id, instrument, answers, context, source, inbound_reply_id, submitted_at_ms, created_at_ms,
                                       unsolicited_reason, about_prompt_id)
                VALUES (\(bind: responseID), \(bind: answer.promptID.isEmpty ? nil : answer.promptID), \(bind: personID), \(bind: answer.instrument),
                        \(bind: answer.answers), '', \(bind: source), \(bind: replyID), \(bind: stamp), \(bind: stamp),
                        \(bind: answer.unsolicitedReason), \(bind: answer.aboutPromptID))
                """).run()
            try await db.raw("""
                INSERT INTO scores (id, response_id, person_id, instrument, definition_version, valid, total, band, result, created_at_ms)
                VALUES (\(bind: scoreID), \(bind: responseID), \(bind: personID), \(bind: answer.instrument), \(bind: answer.score.definitionVersion),
                        \(bind: answer.score.valid ? 1 : 0), \(bind: answer.score.total), \(bind: answer.score.band), \(bind: answer.score.result), \(bind: stamp))
                """).run()
            for flag in answer.flags {
                let existing = FlagRules.standingKinds.contains(flag.kind) ? try await db.raw("""
                    SELECT 1 AS hit FROM flags f JOIN scores s ON s.id = f.score_id
                    WHERE f.person_id = \(bind: personID) AND f.kind = \(bind: flag.kind) AND s.instrument = \(bind: answer.instrument)
                    AND f.status IN ('open', 'acknowledged') LIMIT 1
                    """).first() : nil
                guard FlagRules.raises(flag, alreadyOpenForMeasure: existing != nil) else { continue }
                let promptID = answer.promptID.isEmpty ? answer.aboutPromptID : answer.promptID
                try await db.raw("""
                    INSERT INTO flags (id, person_id, kind, severity, status, evidence, prompt_id, score_id, raised_at_ms, inbound_reply_id)
                    VALUES (\(bind: "fl_" + newID()), \(bind: personID), \(bind: flag.kind), \(bind: flag.severity), 'open', \(bind: flag.evidence),
                            \(bind: promptID), \(bind: scoreID), \(bind: stamp), \(bind: replyID))
                    """).run()
                flags += 1
            }
        }
        return (flags, late, unsolicited)
    }

    /// Flags that come from a reply rather than a score (a risk phrase, a risk answer in an unscorable reply).
    static func insertFlags(_ db: any SQLDatabase, _ flags: [NewFlag], personID: String, replyID: String?, now stamp: Int64) async throws -> Int {
        for flag in flags {
            try await db.raw("""
                INSERT INTO flags (id, person_id, kind, severity, status, evidence, raised_at_ms, inbound_reply_id)
                VALUES (\(bind: "fl_" + newID()), \(bind: personID), \(bind: flag.kind), \(bind: flag.severity), 'open', \(bind: flag.evidence),
                        \(bind: stamp), \(bind: replyID))
                """).run()
        }
        return flags.count
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
