public import Foundation
public import Intake
import SQLKit

/// A stored response with its current score, as re-scoring needs it.
public struct StoredScore: Sendable, Equatable {
    public var scoreID: String
    public var responseID: String
    public var personID: String
    public var instrument: String
    public var definitionVersion: String
    /// Answers as stored: a comma-separated list, `-` for unanswered.
    public var answers: String
    /// `key=true` pairs, comma-separated.
    public var context: String
    public var total: Double?
    public var band: String?
    public var valid: Bool
}

extension SQLStore {
    /// Stores a response and its score together; returns (response id, score id).
    @discardableResult
    public func insertResponse(personID: String, promptID: String?, answers: String, context: String, source: String,
                               score: NewScore, submittedAt: Date, now: Date) async throws -> (String, String) {
        let responseID = newID()
        let scoreID = newID()
        try await transaction { db in
            try await db.insert(into: "responses")
                .columns("id", "prompt_id", "person_id", "instrument", "answers", "context", "source", "submitted_at_ms", "created_at_ms")
                .values(SQLBind(responseID), SQLBind(promptID), SQLBind(personID), SQLBind(score.instrument), SQLBind(answers),
                        SQLBind(context), SQLBind(source), SQLBind(submittedAt.millis), SQLBind(now.millis)).run()
            try await Self.insertScore(score, id: scoreID, responseID: responseID, personID: personID, now: now, db: db)
        }
        return (responseID, scoreID)
    }

    /// Current (not superseded) scores of `instrument`, oldest first.
    public func currentScores(instrument: String) async throws -> [StoredScore] {
        try await read { db in
            try await db.raw("""
                SELECT s.id AS score_id, s.response_id, s.person_id, s.instrument, s.definition_version, s.valid, s.total, s.band,
                       r.answers, r.context
                FROM scores s JOIN responses r ON r.id = s.response_id
                WHERE s.instrument = \(bind: instrument) AND s.superseded_by IS NULL
                ORDER BY r.submitted_at_ms, s.id
                """).all().map { row in
                StoredScore(scoreID: try row.decode(column: "score_id", as: String.self),
                            responseID: try row.decode(column: "response_id", as: String.self),
                            personID: try row.decode(column: "person_id", as: String.self),
                            instrument: try row.decode(column: "instrument", as: String.self),
                            definitionVersion: try row.decode(column: "definition_version", as: String.self),
                            answers: try row.decode(column: "answers", as: String.self),
                            context: try row.decode(column: "context", as: String.self),
                            total: try row.decode(column: "total", as: Double?.self),
                            band: try row.decode(column: "band", as: String?.self),
                            valid: try row.decode(column: "valid", as: Int.self) != 0)
            }
        }
    }

    /// Writes `replacements` (old score id → new score) and marks each old score superseded, all in one transaction.
    public func supersede(_ replacements: [(old: StoredScore, new: NewScore)], now: Date) async throws {
        try await transaction { db in
            for (old, new) in replacements {
                let id = newID()
                try await Self.insertScore(new, id: id, responseID: old.responseID, personID: old.personID, now: now, db: db)
                try await db.raw("UPDATE scores SET superseded_by = \(bind: id) WHERE id = \(bind: old.scoreID)").run()
            }
        }
    }

    /// How many scores exist for a response, current and superseded.
    public func scoreHistoryCount(responseID: String) async throws -> Int {
        try await read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM scores WHERE response_id = \(bind: responseID)").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    private static func insertScore(_ score: NewScore, id: String, responseID: String, personID: String, now: Date, db: any SQLDatabase) async throws {
        try await db.insert(into: "scores")
            .columns("id", "response_id", "person_id", "instrument", "definition_version", "valid", "total", "band", "result", "created_at_ms")
            .values(SQLBind(id), SQLBind(responseID), SQLBind(personID), SQLBind(score.instrument), SQLBind(score.definitionVersion),
                    SQLBind(score.valid ? 1 : 0), SQLBind(score.total), SQLBind(score.band), SQLBind(score.result), SQLBind(now.millis)).run()
    }
}
