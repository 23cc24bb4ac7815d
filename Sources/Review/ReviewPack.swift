public import Foundation
public import Instruments

/// What a clinician sees at a review, assembled from `ReviewInput` by `ReviewPack.assemble` — no clock, no store.
public struct ReviewPack: Sendable, Equatable, Codable {
    public var personID: String
    public var givenName: String
    public var pathway: String
    public var team: String
    public var reviewAt: Date
    public var previousReviewAt: Date?
    public var generatedAt: Date
    public var timeZone: String
    public var measures: [MeasureSummary]
    public var goals: [GoalSummary]
    public var completeness: Completeness
    public var flags: [FlagSummary]
    /// Interpretations recorded at earlier reviews (and this one, once recorded), newest first.
    public var notes: [ReviewNote]

    public struct MeasureSummary: Sendable, Equatable, Codable {
        public var instrument: String
        public var title: String
        public var version: String
        public var direction: Direction
        public var latest: Point?
        public var baseline: Point?
        /// Change from baseline to latest, with its reliable-change class and recovery (when caseness applies).
        public var sinceBaseline: Change?
        /// Change from the last score at or before the previous review to the latest.
        public var sinceLastReview: Change?
        public var recovered: Bool?
        public var reliableRecovery: Bool?
        /// Every current score, oldest first.
        public var points: [Point]
        /// How the latest score was reached.
        public var explanation: [String]
        public var chartSVG: String

        enum CodingKeys: String, CodingKey {
            case instrument, title, version, direction, latest, baseline, recovered, points, explanation
            case sinceBaseline = "since_baseline", sinceLastReview = "since_last_review", reliableRecovery = "reliable_recovery", chartSVG = "chart_svg"
        }
    }

    public struct Point: Sendable, Equatable, Codable {
        public var responseID: String
        public var at: Date
        public var total: Double?
        public var band: String?
        public var bandLabel: String?
        public var valid: Bool
        public var caseness: Bool?
        /// Item answers as given (nil for unanswered), for item-level review and FHIR.
        public var answers: [Int?]

        enum CodingKeys: String, CodingKey {
            case at, total, band, valid, caseness, answers
            case responseID = "response_id", bandLabel = "band_label"
        }
    }

    public struct Change: Sendable, Equatable, Codable {
        public var from: Double
        public var to: Double
        public var delta: Double
        /// Nil when the measure has no reliable-change rule.
        public var change: ChangeClass?

        public init(from: Double, to: Double, delta: Double, change: ChangeClass?) {
            self.from = from
            self.to = to
            self.delta = delta
            self.change = change
        }
    }

    public struct GoalSummary: Sendable, Equatable, Codable {
        public var number: Int
        /// The person's words; nil when none were recorded.
        public var text: String?
        public var ratings: [Rating]

        public struct Rating: Sendable, Equatable, Codable {
            public var at: Date
            public var value: Int
            /// The response the rating came in, for FHIR.
            public var responseID: String

            enum CodingKeys: String, CodingKey {
                case at, value
                case responseID = "response_id"
            }
        }
    }

    /// Prompts for reviews after the previous one up to this one: what was asked and what came of it.
    public struct Completeness: Sendable, Equatable, Codable {
        public var since: Date?
        public var due: Int
        public var sent: Int
        public var delivered: Int
        public var answered: Int
        public var missed: Int
        /// Still open (not yet answered, not yet closed).
        public var open: Int
        /// Why prompts were not answered: reason → count.
        public var missedReasons: [String: Int]
        public var rows: [Row]

        public struct Row: Sendable, Equatable, Codable {
            public var instrument: String
            public var kind: String
            public var reviewAt: Date
            public var status: String
            public var delivery: String?
            public var reason: String?

            enum CodingKeys: String, CodingKey {
                case instrument, kind, status, delivery, reason
                case reviewAt = "review_at"
            }
        }

        enum CodingKeys: String, CodingKey {
            case since, due, sent, delivered, answered, missed, open, rows
            case missedReasons = "missed_reasons"
        }
    }

    enum CodingKeys: String, CodingKey {
        case pathway, team, measures, goals, completeness, flags, notes
        case personID = "person_id", givenName = "given_name", reviewAt = "review_at", previousReviewAt = "previous_review_at"
        case generatedAt = "generated_at", timeZone = "time_zone"
    }
}

extension ReviewPack {
    /// Assembles the pack. Scores after `reviewAt` are left out, so a pack for a past review reads as it did then.
    public static func assemble(_ input: ReviewInput) -> ReviewPack {
        let measures = input.measures.map { summarize($0, input: input) }
        var goals: [GoalSummary] = []
        if let history = input.goals {
            let ratings = history.ratings.filter { $0.at <= input.reviewAt }
            let numbers = Set(history.texts.keys).union(ratings.flatMap { point in point.answers.indices.filter { point.answers[$0] != nil }.map { $0 + 1 } })
            goals = numbers.sorted().map { number in
                GoalSummary(number: number, text: history.texts[number],
                            ratings: ratings.compactMap { point in
                                number <= point.answers.count ? point.answers[number - 1].map { GoalSummary.Rating(at: point.at, value: $0, responseID: point.responseID) } : nil
                            })
            }
        }
        return ReviewPack(personID: input.personID, givenName: input.givenName, pathway: input.pathway, team: input.team, reviewAt: input.reviewAt,
                          previousReviewAt: input.previousReviewAt, generatedAt: input.generatedAt, timeZone: input.timeZone, measures: measures,
                          goals: goals, completeness: completeness(input), flags: input.flags.sorted { ($0.severity == "urgent" ? 0 : 1, $0.raisedAt) < ($1.severity == "urgent" ? 0 : 1, $1.raisedAt) },
                          notes: input.notes.sorted { $0.recordedAt > $1.recordedAt })
    }

    static func summarize(_ history: MeasureHistory, input: ReviewInput) -> MeasureSummary {
        let scorer = Scorer(history.definition)
        let definition = history.definition
        let labels = Dictionary(definition.bands.map { ($0.id, $0.label) }, uniquingKeysWith: { first, _ in first })
        let usable = history.points.filter { $0.at <= input.reviewAt }
        func point(_ p: ScorePoint) -> Point {
            Point(responseID: p.responseID, at: p.at, total: p.total, band: p.band, bandLabel: p.band.flatMap { labels[$0] }, valid: p.valid,
                  caseness: p.total.flatMap { total in definition.caseness.map { scorer.isCase(total, threshold: $0.threshold) } }, answers: p.answers)
        }
        let scored = usable.filter { $0.valid && $0.total != nil }
        let baseline = scored.first { $0.kind == "baseline" } ?? scored.first
        let latest = scored.last
        func change(_ from: ScorePoint?, _ to: ScorePoint?) -> Change? {
            guard let from, let to, from.responseID != to.responseID, let a = from.total, let b = to.total else { return nil }
            return Change(from: a, to: b, delta: b - a, change: scorer.classify(from: a, to: b))
        }
        let sinceBaseline = change(baseline, latest)
        let previous = input.previousReviewAt.flatMap { cutoff in scored.last { $0.at <= cutoff } }
        var recovered: Bool?
        var reliableRecovery: Bool?
        if let caseness = definition.caseness, let from = sinceBaseline?.from, let to = sinceBaseline?.to, scorer.isCase(from, threshold: caseness.threshold) {
            recovered = !scorer.isCase(to, threshold: caseness.threshold)
            reliableRecovery = sinceBaseline?.change.map { recovered == true && $0 == .reliableImprovement }
        }
        let summary = MeasureSummary(instrument: definition.id, title: definition.title, version: definition.version, direction: definition.direction,
                                     latest: latest.map(point), baseline: baseline.map(point), sinceBaseline: sinceBaseline,
                                     sinceLastReview: change(previous, latest), recovered: recovered, reliableRecovery: reliableRecovery,
                                     points: usable.map(point), explanation: latest?.explanation ?? [], chartSVG: "")
        var result = summary
        let missed = input.prompts.filter { $0.instrument == definition.id && ($0.status == "missed" || $0.status == "expired") && $0.reviewAt <= input.reviewAt }
            .map(\.reviewAt)
        result.chartSVG = TrendChart(definition: definition, maximum: scorer.maximumTotal, points: usable, baselineID: baseline?.responseID,
                                     missed: missed, end: input.reviewAt).svg()
        return result
    }

    /// Words for the scheduler's status reasons.
    public static func describe(_ reason: String) -> String {
        switch reason {
        case "closed": return "not answered before the check-in closed"
        case "replanned": return "replaced when the review moved"
        default: return reason.replacingOccurrences(of: "_", with: " ")
        }
    }

    static func completeness(_ input: ReviewInput) -> Completeness {
        let rows = input.prompts.filter { prompt in
            prompt.reviewAt <= input.reviewAt && (input.previousReviewAt.map { prompt.reviewAt > $0 } ?? true)
        }.sorted { ($0.reviewAt, $0.instrument) < ($1.reviewAt, $1.instrument) }
        var reasons: [String: Int] = [:]
        for row in rows where row.status == "missed" || row.status == "expired" || row.status == "closed" {
            let reason: String
            if row.delivery == nil { reason = "never sent" + (row.statusReason.map { " (\(describe($0)))" } ?? "") }
            else if row.delivery == "failed" { reason = "message failed" }
            else { reason = row.statusReason.map(describe) ?? "not answered in time" }
            reasons[reason, default: 0] += 1
        }
        return Completeness(
            since: input.previousReviewAt, due: rows.count,
            sent: rows.filter { $0.delivery != nil }.count,
            delivered: rows.filter { $0.delivery == "delivered" }.count,
            answered: rows.filter { $0.status == "answered" }.count,
            missed: rows.filter { $0.status == "missed" || $0.status == "expired" || $0.status == "closed" }.count,
            open: rows.filter { $0.status == "scheduled" || $0.status == "sent" }.count,
            missedReasons: reasons,
            rows: rows.map { Completeness.Row(instrument: $0.instrument, kind: $0.kind, reviewAt: $0.reviewAt, status: $0.status, delivery: $0.delivery,
                                              reason: $0.statusReason) })
    }
}
