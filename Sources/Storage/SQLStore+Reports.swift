public import Foundation
import SQLKit

/// Which prompts, scores and flags a report covers.
public struct ReportScope: Sendable, Equatable {
    public var from: Date
    public var to: Date
    public var pathway: String?
    public var team: String?

    public init(from: Date, to: Date, pathway: String?, team: String?) {
        self.from = from
        self.to = to
        self.pathway = pathway
        self.team = team
    }

    /// `AND e.pathway = … AND pe.team = …` for queries that join enrolments `e` and people `pe`.
    var filters: SQLQueryString {
        var text = SQLQueryString("")
        if let pathway { text.appendInterpolation(raw: " AND e.pathway = "); text.appendInterpolation(bind: pathway) }
        if let team { text.appendInterpolation(raw: " AND pe.team = "); text.appendInterpolation(bind: team) }
        return text
    }
}

/// Prompts counted together: same status, reason, kind and message outcome.
public struct PromptGroup: Sendable, Equatable {
    public var instrument: String
    public var kind: String
    public var status: String
    public var reason: String?
    public var sent: Bool
    public var delivered: Bool
    public var failed: Bool
    public var count: Int

    public init(instrument: String, kind: String, status: String, reason: String?, sent: Bool, delivered: Bool, failed: Bool, count: Int) {
        self.instrument = instrument
        self.kind = kind
        self.status = status
        self.reason = reason
        self.sent = sent
        self.delivered = delivered
        self.failed = failed
        self.count = count
    }
}

/// A person's first and latest valid score of one measure (the latest within the scope's dates).
public struct ScorePair: Sendable, Equatable {
    public var personID: String
    public var pathway: String
    public var team: String
    public var instrument: String
    public var baseline: Double
    public var latest: Double
    /// Valid scores up to the latest; 1 means the baseline is the only one (no pair).
    public var count: Int

    public init(personID: String, pathway: String, team: String, instrument: String, baseline: Double, latest: Double, count: Int) {
        self.personID = personID
        self.pathway = pathway
        self.team = team
        self.instrument = instrument
        self.baseline = baseline
        self.latest = latest
        self.count = count
    }
}

/// A non-response flag with its handling times.
public struct NonResponseFlag: Sendable, Equatable {
    public var flagID: String
    public var personID: String
    public var team: String
    public var pathway: String
    public var raisedAt: Date
    public var acknowledgedAt: Date?
    public var actionedAt: Date?
    public var status: String

    public init(flagID: String, personID: String, team: String, pathway: String, raisedAt: Date, acknowledgedAt: Date?, actionedAt: Date?, status: String) {
        self.flagID = flagID
        self.personID = personID
        self.team = team
        self.pathway = pathway
        self.raisedAt = raisedAt
        self.acknowledgedAt = acknowledgedAt
        self.actionedAt = actionedAt
        self.status = status
    }
}

/// One prompt behind a completeness figure.
public struct PromptDetail: Sendable, Equatable, Codable {
    public var personID: String
    public var instrument: String
    public var kind: String
    public var reviewAt: Date
    public var status: String
    public var reason: String?
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case instrument, kind, status, reason, message
        case personID = "person_id", reviewAt = "review_at"
    }
}

extension SQLStore {
    /// Prompts for reviews in the scope, counted by instrument, kind, status, reason and what their messages did.
    /// Prompts replaced when a review moved are not due and are left out.
    public func promptGroups(_ scope: ReportScope) async throws -> [PromptGroup] {
        try await read { db in
            try await db.raw("""
                SELECT p.instrument, p.kind, p.status, p.status_reason,
                       EXISTS (SELECT 1 FROM outbox_messages o WHERE o.prompt_id = p.id AND o.status IN ('accepted', 'delivered', 'unknown')) AS sent,
                       EXISTS (SELECT 1 FROM outbox_messages o WHERE o.prompt_id = p.id AND o.status = 'delivered') AS delivered,
                       EXISTS (SELECT 1 FROM outbox_messages o WHERE o.prompt_id = p.id AND o.status = 'failed') AS failed,
                       COUNT(*) AS n
                FROM prompts p JOIN enrolments e ON e.id = p.enrolment_id JOIN people pe ON pe.id = p.person_id
                WHERE p.review_at_ms >= \(bind: scope.from.millis) AND p.review_at_ms < \(bind: scope.to.millis)
                  AND (p.status_reason IS NULL OR p.status_reason <> 'replanned') \(scope.filters)
                GROUP BY 1, 2, 3, 4, 5, 6, 7
                """).all().map { row in
                PromptGroup(instrument: try row.decode(column: "instrument", as: String.self), kind: try row.decode(column: "kind", as: String.self),
                            status: try row.decode(column: "status", as: String.self), reason: try row.decode(column: "status_reason", as: String?.self),
                            sent: try row.decode(column: "sent", as: Int.self) != 0, delivered: try row.decode(column: "delivered", as: Int.self) != 0,
                            failed: try row.decode(column: "failed", as: Int.self) != 0, count: try row.decode(column: "n", as: Int.self))
            }
        }
    }

    /// The prompts behind one completeness figure (`due`, `sent`, `delivered`, `answered`, `missed`, `open`), at most `limit`.
    public func promptDetails(_ scope: ReportScope, figure: String, limit: Int = 1_000) async throws -> [PromptDetail] {
        let condition: SQLQueryString
        switch figure {
        case "sent": condition = "AND EXISTS (SELECT 1 FROM outbox_messages o WHERE o.prompt_id = p.id AND o.status IN ('accepted', 'delivered', 'unknown'))"
        case "delivered": condition = "AND EXISTS (SELECT 1 FROM outbox_messages o WHERE o.prompt_id = p.id AND o.status = 'delivered')"
        case "answered": condition = "AND p.status = 'answered'"
        case "missed": condition = "AND p.status IN ('expired', 'missed')"
        case "open": condition = "AND p.status IN ('scheduled', 'sent')"
        default: condition = ""
        }
        return try await read { db in
            try await db.raw("""
                SELECT p.person_id, p.instrument, p.kind, p.review_at_ms, p.status, p.status_reason,
                       (SELECT o.status FROM outbox_messages o WHERE o.prompt_id = p.id
                        ORDER BY CASE o.status WHEN 'delivered' THEN 0 WHEN 'accepted' THEN 1 WHEN 'unknown' THEN 2 WHEN 'failed' THEN 3 ELSE 4 END LIMIT 1) AS message
                FROM prompts p JOIN enrolments e ON e.id = p.enrolment_id JOIN people pe ON pe.id = p.person_id
                WHERE p.review_at_ms >= \(bind: scope.from.millis) AND p.review_at_ms < \(bind: scope.to.millis)
                  AND (p.status_reason IS NULL OR p.status_reason <> 'replanned') \(scope.filters) \(condition)
                ORDER BY p.review_at_ms, p.person_id, p.instrument LIMIT \(literal: limit)
                """).all().map { row in
                PromptDetail(personID: try row.decode(column: "person_id", as: String.self), instrument: try row.decode(column: "instrument", as: String.self),
                             kind: try row.decode(column: "kind", as: String.self), reviewAt: Date(millis: try row.decode(column: "review_at_ms", as: Int64.self)),
                             status: try row.decode(column: "status", as: String.self), reason: try row.decode(column: "status_reason", as: String?.self),
                             message: try row.decode(column: "message", as: String?.self))
            }
        }
    }

    /// Per person and measure: the first valid score ever and the latest valid score before the scope's end, for
    /// people whose latest score falls inside the scope. Window functions, so PostgreSQL runs it unchanged.
    public func scorePairs(_ scope: ReportScope) async throws -> [ScorePair] {
        try await read { db in
            try await db.raw("""
                WITH v AS (
                    SELECT s.person_id, s.instrument, s.total, r.submitted_at_ms AS t, e.pathway, pe.team,
                           ROW_NUMBER() OVER (PARTITION BY s.person_id, s.instrument ORDER BY r.submitted_at_ms, r.id) AS first_rank,
                           ROW_NUMBER() OVER (PARTITION BY s.person_id, s.instrument ORDER BY r.submitted_at_ms DESC, r.id DESC) AS last_rank,
                           COUNT(*) OVER (PARTITION BY s.person_id, s.instrument) AS n
                    FROM scores s JOIN responses r ON r.id = s.response_id JOIN people pe ON pe.id = s.person_id
                    JOIN enrolments e ON e.person_id = s.person_id
                    WHERE s.superseded_by IS NULL AND s.valid = 1 AND s.total IS NOT NULL AND r.submitted_at_ms < \(bind: scope.to.millis) \(scope.filters)
                )
                SELECT a.person_id, a.instrument, a.pathway, a.team, a.total AS baseline, b.total AS latest, a.n
                FROM v a JOIN v b ON b.person_id = a.person_id AND b.instrument = a.instrument AND b.last_rank = 1
                WHERE a.first_rank = 1 AND b.t >= \(bind: scope.from.millis)
                ORDER BY a.person_id, a.instrument
                """).all().map { row in
                ScorePair(personID: try row.decode(column: "person_id", as: String.self), pathway: try row.decode(column: "pathway", as: String.self),
                          team: try row.decode(column: "team", as: String.self), instrument: try row.decode(column: "instrument", as: String.self),
                          baseline: try row.decode(column: "baseline", as: Double.self), latest: try row.decode(column: "latest", as: Double.self),
                          count: try row.decode(column: "n", as: Int.self))
            }
        }
    }

    /// Non-response flags raised in the scope.
    public func nonResponseFlags(_ scope: ReportScope) async throws -> [NonResponseFlag] {
        try await read { db in
            try await db.raw("""
                SELECT f.id, f.person_id, pe.team, e.pathway, f.raised_at_ms, f.acknowledged_at_ms, f.actioned_at_ms, f.status
                FROM flags f JOIN people pe ON pe.id = f.person_id JOIN enrolments e ON e.person_id = f.person_id
                WHERE f.kind = 'recovery_gains_at_risk' AND f.raised_at_ms >= \(bind: scope.from.millis) AND f.raised_at_ms < \(bind: scope.to.millis) \(scope.filters)
                ORDER BY f.raised_at_ms, f.id
                """).all().map { row in
                NonResponseFlag(flagID: try row.decode(column: "id", as: String.self), personID: try row.decode(column: "person_id", as: String.self),
                                team: try row.decode(column: "team", as: String.self), pathway: try row.decode(column: "pathway", as: String.self),
                                raisedAt: Date(millis: try row.decode(column: "raised_at_ms", as: Int64.self)),
                                acknowledgedAt: try row.decode(column: "acknowledged_at_ms", as: Int64?.self).map(Date.init(millis:)),
                                actionedAt: try row.decode(column: "actioned_at_ms", as: Int64?.self).map(Date.init(millis:)),
                                status: try row.decode(column: "status", as: String.self))
            }
        }
    }
}
