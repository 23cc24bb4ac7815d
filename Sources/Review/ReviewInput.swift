public import Foundation
public import Instruments

/// Everything a review pack is assembled from, read from the store beforehand: the assembly itself is pure.
public struct ReviewInput: Sendable {
    public var personID: String
    public var givenName: String
    public var pathway: String
    public var team: String
    /// The review the pack is for, and the one before it (nil for a first review).
    public var reviewAt: Date
    public var previousReviewAt: Date?
    public var generatedAt: Date
    /// The person's time zone, for dates shown in the pack.
    public var timeZone: String
    /// Scored measures in the pathway's order (goals separately).
    public var measures: [MeasureHistory]
    public var goals: GoalHistory?
    public var prompts: [PromptRecord]
    public var flags: [FlagSummary]
    public var notes: [ReviewNote]

    public init(personID: String, givenName: String, pathway: String, team: String, reviewAt: Date, previousReviewAt: Date?, generatedAt: Date,
                timeZone: String, measures: [MeasureHistory], goals: GoalHistory?, prompts: [PromptRecord], flags: [FlagSummary], notes: [ReviewNote]) {
        self.personID = personID
        self.givenName = givenName
        self.pathway = pathway
        self.team = team
        self.reviewAt = reviewAt
        self.previousReviewAt = previousReviewAt
        self.generatedAt = generatedAt
        self.timeZone = timeZone
        self.measures = measures
        self.goals = goals
        self.prompts = prompts
        self.flags = flags
        self.notes = notes
    }
}

/// One measure's current scores, oldest first.
public struct MeasureHistory: Sendable {
    public var definition: InstrumentDefinition
    public var points: [ScorePoint]

    public init(definition: InstrumentDefinition, points: [ScorePoint]) {
        self.definition = definition
        self.points = points
    }
}

/// One scored response.
public struct ScorePoint: Sendable, Equatable {
    public var responseID: String
    public var at: Date
    public var total: Double?
    public var band: String?
    public var valid: Bool
    /// `baseline` for the baseline prompt's answer; otherwise `review`, or `unprompted` (API, paper).
    public var kind: String
    /// Answers as stored (nil for unanswered), for FHIR and explanations.
    public var answers: [Int?]
    /// How the score was reached, in words.
    public var explanation: [String]

    public init(responseID: String, at: Date, total: Double?, band: String?, valid: Bool, kind: String, answers: [Int?], explanation: [String]) {
        self.responseID = responseID
        self.at = at
        self.total = total
        self.band = band
        self.valid = valid
        self.kind = kind
        self.answers = answers
        self.explanation = explanation
    }
}

/// Goals in the person's own words and their 0–10 ratings over time.
public struct GoalHistory: Sendable {
    public var definition: InstrumentDefinition
    /// Goal number (1-based) → the person's words.
    public var texts: [Int: String]
    public var ratings: [ScorePoint]

    public init(definition: InstrumentDefinition, texts: [Int: String], ratings: [ScorePoint]) {
        self.definition = definition
        self.texts = texts
        self.ratings = ratings
    }
}

/// A prompt as the scheduler and dispatcher left it.
public struct PromptRecord: Sendable, Equatable {
    public var instrument: String
    public var kind: String
    public var reviewAt: Date
    public var closesAt: Date
    /// scheduled, sent, answered, expired, missed, closed.
    public var status: String
    public var statusReason: String?
    /// The furthest any message for it got: accepted, delivered, failed, unknown, expired — nil when none was sent.
    public var delivery: String?

    public init(instrument: String, kind: String, reviewAt: Date, closesAt: Date, status: String, statusReason: String?, delivery: String?) {
        self.instrument = instrument
        self.kind = kind
        self.reviewAt = reviewAt
        self.closesAt = closesAt
        self.status = status
        self.statusReason = statusReason
        self.delivery = delivery
    }
}

/// A flag as the pack shows it.
public struct FlagSummary: Sendable, Equatable, Codable {
    public var id: String
    public var kind: String
    public var severity: String
    public var status: String
    public var raisedAt: Date
    public var acknowledgedBy: String?
    public var acknowledgedAt: Date?
    public var actionedBy: String?
    public var actionedAt: Date?
    public var note: String?
    /// As a clinician reads it (`FlagDescription`): nil in packs assembled without the definitions.
    public var title: String?
    public var evidenceLines: [String]?
    /// The measure the flag is about, when it is about one (its section in the pack).
    public var instrument: String?

    public init(id: String, kind: String, severity: String, status: String, raisedAt: Date, acknowledgedBy: String?, acknowledgedAt: Date?,
                actionedBy: String?, actionedAt: Date?, note: String?, title: String? = nil, evidenceLines: [String]? = nil, instrument: String? = nil) {
        self.instrument = instrument
        self.title = title
        self.evidenceLines = evidenceLines
        self.id = id
        self.kind = kind
        self.severity = severity
        self.status = status
        self.raisedAt = raisedAt
        self.acknowledgedBy = acknowledgedBy
        self.acknowledgedAt = acknowledgedAt
        self.actionedBy = actionedBy
        self.actionedAt = actionedAt
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, severity, status, note, title, instrument
        case evidenceLines = "evidence_lines"
        case raisedAt = "raised_at", acknowledgedBy = "acknowledged_by", acknowledgedAt = "acknowledged_at"
        case actionedBy = "actioned_by", actionedAt = "actioned_at"
    }
}

/// A clinician's interpretation recorded at a review: does the measure match the person's lived experience?
public struct ReviewNote: Sendable, Equatable, Codable {
    public var reviewAt: Date
    public var author: String
    public var recordedAt: Date
    /// yes, partly or no.
    public var matchesExperience: String
    public var note: String

    public init(reviewAt: Date, author: String, recordedAt: Date, matchesExperience: String, note: String) {
        self.reviewAt = reviewAt
        self.author = author
        self.recordedAt = recordedAt
        self.matchesExperience = matchesExperience
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case author, note
        case reviewAt = "review_at", recordedAt = "recorded_at", matchesExperience = "matches_experience"
    }
}
