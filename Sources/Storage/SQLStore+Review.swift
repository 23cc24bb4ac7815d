public import Foundation
public import Review
import SQLKit

/// One current score with its response, as a review pack reads it.
public struct ScoreRow: Sendable, Equatable {
    public var responseID: String
    public var instrument: String
    public var submittedAt: Date
    public var answers: String
    public var total: Double?
    public var band: String?
    public var valid: Bool
    /// The prompt kind it answered (`baseline`, `review`, …), nil when it came unprompted (API, paper).
    public var promptKind: String?
    /// The stored `ScoreReport` JSON.
    public var result: String
}

/// Everything stored about one person that a review pack uses.
public struct ReviewRecords: Sendable {
    public var scores: [ScoreRow]
    /// With the furthest their messages got, as the pack takes them.
    public var prompts: [PromptRecord]
    public var flags: [FlagRecord]
    public var notes: [ReviewNote]
    public var goals: [Int: String]
}

extension SQLStore {
    /// Reads a person's scores, prompts (with delivery), flags, notes and goal texts in one read session.
    public func reviewRecords(personID: String) async throws -> ReviewRecords {
        try await read { db in
            let scores = try await db.raw("""
                SELECT r.id, r.instrument, r.submitted_at_ms, r.answers, s.total, s.band, s.valid, s.result, p.kind
                FROM scores s JOIN responses r ON r.id = s.response_id LEFT JOIN prompts p ON p.id = r.prompt_id
                WHERE s.person_id = \(bind: personID) AND s.superseded_by IS NULL
                ORDER BY r.submitted_at_ms, r.id
                """).all().map { row in
                ScoreRow(responseID: try row.decode(column: "id", as: String.self), instrument: try row.decode(column: "instrument", as: String.self),
                         submittedAt: Date(millis: try row.decode(column: "submitted_at_ms", as: Int64.self)),
                         answers: try row.decode(column: "answers", as: String.self), total: try row.decode(column: "total", as: Double?.self),
                         band: try row.decode(column: "band", as: String?.self), valid: try row.decode(column: "valid", as: Int.self) != 0,
                         promptKind: try row.decode(column: "kind", as: String?.self), result: try row.decode(column: "result", as: String.self))
            }
            // The furthest status any message for the prompt reached.
            let prompts = try await db.raw("""
                SELECT p.instrument, p.kind, p.review_at_ms, p.closes_at_ms, p.status, p.status_reason, p.delivery
                FROM prompts p WHERE p.person_id = \(bind: personID)
                ORDER BY p.review_at_ms, p.instrument
                """).all().map { row in
                PromptRecord(instrument: try row.decode(column: "instrument", as: String.self), kind: try row.decode(column: "kind", as: String.self),
                             reviewAt: Date(millis: try row.decode(column: "review_at_ms", as: Int64.self)),
                             closesAt: Date(millis: try row.decode(column: "closes_at_ms", as: Int64.self)),
                             status: try row.decode(column: "status", as: String.self), statusReason: try row.decode(column: "status_reason", as: String?.self),
                             delivery: try row.decode(column: "delivery", as: String?.self))
            }
            let flags = try await db.raw("""
                SELECT f.id, f.person_id, p.team, f.kind, f.severity, f.status, f.evidence, f.raised_at_ms, f.acknowledged_by, f.acknowledged_at_ms,
                       f.actioned_by, f.actioned_at_ms, f.note
                FROM flags f JOIN people p ON p.id = f.person_id WHERE f.person_id = \(bind: personID) ORDER BY f.raised_at_ms, f.id
                """).all().map(Self.decodeFlag)
            let notes = try await db.raw("""
                SELECT review_at_ms, author, matches_experience, note, recorded_at_ms FROM review_notes WHERE person_id = \(bind: personID)
                ORDER BY recorded_at_ms, id
                """).all().map { row in
                ReviewNote(reviewAt: Date(millis: try row.decode(column: "review_at_ms", as: Int64.self)), author: try row.decode(column: "author", as: String.self),
                           recordedAt: Date(millis: try row.decode(column: "recorded_at_ms", as: Int64.self)),
                           matchesExperience: try row.decode(column: "matches_experience", as: String.self), note: try row.decode(column: "note", as: String.self))
            }
            var goals: [Int: String] = [:]
            for row in try await db.raw("SELECT number, text FROM person_goals WHERE person_id = \(bind: personID)").all() {
                goals[try row.decode(column: "number", as: Int.self)] = try row.decode(column: "text", as: String.self)
            }
            return ReviewRecords(scores: scores, prompts: prompts, flags: flags, notes: notes, goals: goals)
        }
    }

    /// Records a clinician's interpretation at a review (append-only), with an audit event.
    public func addReviewNote(personID: String, reviewAt: Date, author: String, matchesExperience: String, note: String, now: Date) async throws {
        try await transaction { db in
            try await db.raw("""
                INSERT INTO review_notes (id, person_id, review_at_ms, author, matches_experience, note, recorded_at_ms)
                VALUES (\(bind: "rn_" + newID()), \(bind: personID), \(bind: reviewAt.millis), \(bind: author), \(bind: matchesExperience), \(bind: note), \(bind: now.millis))
                """).run()
        }
        try await audit(AuditEvent(at: now, actor: author, action: "review.note", personID: personID, detail: nil, requestID: nil))
    }

    /// Replaces a person's goals (in their own words), numbered from 1.
    public func setGoals(personID: String, goals: [String], now: Date) async throws {
        try await transaction { db in
            try await db.raw("DELETE FROM person_goals WHERE person_id = \(bind: personID)").run()
            for (index, text) in goals.enumerated() {
                try await db.raw("""
                    INSERT INTO person_goals (person_id, number, text, set_at_ms) VALUES (\(bind: personID), \(bind: index + 1), \(bind: text), \(bind: now.millis))
                    """).run()
            }
        }
    }
}

/// One row of a clinician's caseload.
public struct CaseloadRow: Sendable, Equatable {
    public var personID: String
    public var givenName: String
    public var pathway: String
    public var mode: String
    public var nextReview: Date?
    /// instrument → (latest total, band id)
    public var latest: [String: (total: Double?, band: String?)]
    public var openFlags: Int
    public var urgentFlags: Int

    public static func == (a: CaseloadRow, b: CaseloadRow) -> Bool {
        a.personID == b.personID && a.nextReview == b.nextReview && a.openFlags == b.openFlags && a.urgentFlags == b.urgentFlags
    }
}

extension SQLStore {
    /// A team's people with their next review, latest score per measure and open flags.
    public func caseload(team: String, now: Date, limit: Int = 1_000) async throws -> [CaseloadRow] {
        try await read { db in
            var rows: [String: CaseloadRow] = [:]
            var order: [String] = []
            for row in try await db.raw("""
                SELECT p.id, p.given_name, e.pathway, e.mode,
                       (SELECT MIN(review_at_ms) FROM prompts q WHERE q.person_id = p.id AND q.review_at_ms >= \(bind: now.millis)) AS next_review,
                       (SELECT COUNT(*) FROM flags f WHERE f.person_id = p.id AND f.status = 'open') AS open_flags,
                       (SELECT COUNT(*) FROM flags f WHERE f.person_id = p.id AND f.status = 'open' AND f.severity = 'urgent') AS urgent_flags
                FROM people p JOIN enrolments e ON e.person_id = p.id WHERE p.team = \(bind: team) ORDER BY p.id LIMIT \(literal: limit)
                """).all() {
                let id = try row.decode(column: "id", as: String.self)
                order.append(id)
                rows[id] = CaseloadRow(personID: id, givenName: try row.decode(column: "given_name", as: String.self),
                                       pathway: try row.decode(column: "pathway", as: String.self), mode: try row.decode(column: "mode", as: String.self),
                                       nextReview: try row.decode(column: "next_review", as: Int64?.self).map(Date.init(millis:)), latest: [:],
                                       openFlags: try row.decode(column: "open_flags", as: Int.self), urgentFlags: try row.decode(column: "urgent_flags", as: Int.self))
            }
            for row in try await db.raw("""
                SELECT s.person_id, s.instrument, s.total, s.band, MAX(r.submitted_at_ms) AS t
                FROM scores s JOIN responses r ON r.id = s.response_id JOIN people p ON p.id = s.person_id
                WHERE p.team = \(bind: team) AND s.superseded_by IS NULL AND s.valid = 1 GROUP BY s.person_id, s.instrument
                """).all() {
                let id = try row.decode(column: "person_id", as: String.self)
                rows[id]?.latest[try row.decode(column: "instrument", as: String.self)] = (try row.decode(column: "total", as: Double?.self),
                                                                                         try row.decode(column: "band", as: String?.self))
            }
            return order.compactMap { rows[$0] }
        }
    }
}
