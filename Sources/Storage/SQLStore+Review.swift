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
        _ = try await setGoals(personID: personID, goals: goals, now: now) { _ in true }
    }

    /// A person's goals in order (none set: empty).
    public func goals(personID: String) async throws -> [String] {
        try await read { db in try await Self.goals(db, personID: personID) }
    }

    static func goals(_ db: any SQLDatabase, personID: String) async throws -> [String] {
        try await db.raw("SELECT text FROM person_goals WHERE person_id = \(bind: personID) ORDER BY number").all().map { try $0.decode(column: "text", as: String.self) }
    }

    /// Replaces the goals only if `condition` holds for the current ones, in the same transaction (a client's If-Match).
    public func setGoals(personID: String, goals: [String], now: Date, if condition: @escaping @Sendable ([String]) -> Bool) async throws -> ConditionalWrite<[String]> {
        try await transaction { db in
            let current = try await Self.goals(db, personID: personID)
            guard condition(current) else { return .stale(current: current) }
            try await db.raw("DELETE FROM person_goals WHERE person_id = \(bind: personID)").run()
            for (index, text) in goals.enumerated() {
                try await db.raw("""
                    INSERT INTO person_goals (person_id, number, text, set_at_ms) VALUES (\(bind: personID), \(bind: index + 1), \(bind: text), \(bind: now.millis))
                    """).run()
            }
            return .written(goals)
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
    /// The earliest review whose time has passed without being held, missed or cancelled.
    public var overdueSince: Date?
    /// instrument → (latest total, band id)
    public var latest: [String: (total: Double?, band: String?)]
    public var openFlags: Int
    public var urgentFlags: Int

    public static func == (a: CaseloadRow, b: CaseloadRow) -> Bool {
        a.personID == b.personID && a.nextReview == b.nextReview && a.openFlags == b.openFlags && a.urgentFlags == b.urgentFlags
    }
}

extension SQLStore {
    /// A team's people with their next review, latest score per measure and open flags. (The latest score is picked
    /// with a window function: SQLite's bare column beside MAX() is not SQL, and PostgreSQL refuses it.)
    public func caseload(team: String, now: Date, limit: Int = 1_000) async throws -> [CaseloadRow] {
        try await read { db in
            var rows: [String: CaseloadRow] = [:]
            var order: [String] = []
            for row in try await db.raw("""
                SELECT p.id, p.given_name, e.pathway, e.mode,
                       (SELECT MIN(v.review_at_ms) FROM reviews v WHERE v.enrolment_id = e.id AND v.status = 'planned'
                        AND v.source <> 'baseline' AND v.review_at_ms >= \(bind: now.millis)) AS next_review,
                       (SELECT MIN(v.review_at_ms) FROM reviews v WHERE v.enrolment_id = e.id AND v.status = 'planned'
                        AND v.source <> 'baseline' AND v.review_at_ms < \(bind: now.millis)) AS overdue_since,
                       (SELECT COUNT(*) FROM flags f WHERE f.person_id = p.id AND f.status = 'open') AS open_flags,
                       (SELECT COUNT(*) FROM flags f WHERE f.person_id = p.id AND f.status = 'open' AND f.severity = 'urgent') AS urgent_flags
                FROM people p JOIN enrolments e ON e.person_id = p.id AND e.ended_at_ms IS NULL WHERE p.team = \(bind: team) ORDER BY p.id LIMIT \(literal: limit)
                """).all() {
                let id = try row.decode(column: "id", as: String.self)
                order.append(id)
                rows[id] = CaseloadRow(personID: id, givenName: try row.decode(column: "given_name", as: String.self),
                                       pathway: try row.decode(column: "pathway", as: String.self), mode: try row.decode(column: "mode", as: String.self),
                                       nextReview: try row.decode(column: "next_review", as: Int64?.self).map(Date.init(millis:)),
                                       overdueSince: try row.decode(column: "overdue_since", as: Int64?.self).map(Date.init(millis:)), latest: [:],
                                       openFlags: try row.decode(column: "open_flags", as: Int.self), urgentFlags: try row.decode(column: "urgent_flags", as: Int.self))
            }
            for row in try await db.raw("""
                SELECT person_id, instrument, total, band FROM (
                    SELECT s.person_id, s.instrument, s.total, s.band,
                           ROW_NUMBER() OVER (PARTITION BY s.person_id, s.instrument ORDER BY r.submitted_at_ms DESC, r.id DESC) AS n
                    FROM scores s JOIN responses r ON r.id = s.response_id JOIN people p ON p.id = s.person_id
                    WHERE p.team = \(bind: team) AND s.superseded_by IS NULL AND s.valid = 1
                ) latest WHERE n = 1
                """).all() {
                let id = try row.decode(column: "person_id", as: String.self)
                rows[id]?.latest[try row.decode(column: "instrument", as: String.self)] = (try row.decode(column: "total", as: Double?.self),
                                                                                         try row.decode(column: "band", as: String?.self))
            }
            return order.compactMap { rows[$0] }
        }
    }
}

/// One review of a person: `baseline` (the first check-in), `cadence` (from the pathway's rhythm) or `booked`.
public struct ReviewRecord: Sendable, Equatable {
    public var id: String
    public var at: Date
    public var kind: String
    /// `planned`, `held`, `missed` or `cancelled`.
    public var status: String
    public var statusAt: Date?
    public var statusBy: String?
    public var interpretation: String?

    /// A planned meeting whose time has passed without being held, missed or cancelled.
    public func isOverdue(now: Date) -> Bool { status == "planned" && kind != "baseline" && at < now }
}

extension SQLStore {
    /// A person's reviews in time order, cancelled ones included.
    public func reviews(personID: String) async throws -> [ReviewRecord] {
        try await read { db in
            try await db.raw("""
                SELECT r.id, r.review_at_ms, r.source, r.status, r.status_at_ms, r.status_by, r.interpretation
                FROM reviews r JOIN enrolments e ON e.id = r.enrolment_id
                WHERE e.person_id = \(bind: personID) ORDER BY r.review_at_ms, r.id
                """).all().map { row in
                ReviewRecord(id: try row.decode(column: "id", as: String.self), at: Date(millis: try row.decode(column: "review_at_ms", as: Int64.self)),
                             kind: try row.decode(column: "source", as: String.self), status: try row.decode(column: "status", as: String.self),
                             statusAt: try row.decode(column: "status_at_ms", as: Int64?.self).map(Date.init(millis:)),
                             statusBy: try row.decode(column: "status_by", as: String?.self),
                             interpretation: try row.decode(column: "interpretation", as: String?.self))
            }
        }
    }
}

extension SQLStore {
    /// Marks a planned review `held` (with its interpretation) or `missed`, audited in the same transaction; false when
    /// the review is not this person's or no longer planned.
    public func markReview(personID: String, reviewID: String, status: String, interpretation: String?, by actor: String, now: Date) async throws -> Bool {
        try await transaction { db in
            let done = try await db.raw("""
                UPDATE reviews SET status = \(bind: status), status_at_ms = \(bind: now.millis), status_by = \(bind: actor), interpretation = \(bind: interpretation)
                WHERE id = \(bind: reviewID) AND status = 'planned'
                AND enrolment_id IN (SELECT id FROM enrolments WHERE person_id = \(bind: personID)) RETURNING id
                """).first() != nil
            if done {
                try await Self.markForScheduler(db, "person_id = \(bind: personID) AND ended_at_ms IS NULL")
                try await self.insertAudit(AuditEvent(at: now, actor: actor, action: "review.\(status)", personID: personID, detail: reviewID, requestID: nil), db: db)
            }
            return done
        }
    }
}
