public import Foundation

/// A prompt a reply may answer: open now, or closed recently (inside the grace, or after it, for an honest answer
/// about why it was not scored against it).
public struct OpenPrompt: Sendable, Equatable {
    public var id: String
    public var instrument: String
    /// `baseline`, `review`, …: a baseline prompt is never compared with a baseline.
    public var kind: String
    public var closesAt: Date
    /// The code a reply-by-SMS answer names (`P7`), once the prompt has been sent that way.
    public var replyCode: String?
    /// `scheduled`, `sent`, `answered` or `expired`.
    public var status: String
    /// Why an expired prompt expired: `closed` (its time passed) or `replanned` (its review moved or went).
    public var statusReason: String?

    public init(id: String, instrument: String, kind: String, closesAt: Date, replyCode: String? = nil, status: String = "sent",
                statusReason: String? = nil) {
        self.id = id
        self.instrument = instrument
        self.kind = kind
        self.closesAt = closesAt
        self.replyCode = replyCode
        self.status = status
        self.statusReason = statusReason
    }

    /// Still waiting for an answer and not past closing.
    public func isOpen(at now: Date) -> Bool {
        (status == "scheduled" || status == "sent") && closesAt > now
    }
}

/// One instrument's answers, scored, with the flags it raises and where it belongs.
public struct CheckinAnswer: Sendable, Equatable {
    /// The prompt it answers; empty for a response no prompt asked for (API or paper without one, or unsolicited).
    public var promptID: String
    public var instrument: String
    /// Comma-separated, `-` for unanswered (the stored form of answers).
    public var answers: String
    public var score: NewScore
    public var flags: [NewFlag]
    /// Answered after its prompt closed, inside the pathway's grace.
    public var late: Bool
    /// Set when the answers could not count for the prompt they were meant for (`after_grace`, `replanned`,
    /// `already_answered`, `unknown_prompt`): kept as an unsolicited response that the review pack shows.
    public var unsolicitedReason: String?
    /// The prompt an unsolicited response was meant for, when known.
    public var aboutPromptID: String?

    public init(promptID: String, instrument: String, answers: String, score: NewScore, flags: [NewFlag], late: Bool = false,
                unsolicitedReason: String? = nil, aboutPromptID: String? = nil) {
        self.promptID = promptID
        self.instrument = instrument
        self.answers = answers
        self.score = score
        self.flags = flags
        self.late = late
        self.unsolicitedReason = unsolicitedReason
        self.aboutPromptID = aboutPromptID
    }
}

/// A score as stored: the definition version that made it and the full report as JSON.
public struct NewScore: Sendable, Equatable {
    public var instrument: String
    public var definitionVersion: String
    public var valid: Bool
    public var total: Double?
    public var band: String?
    /// The `ScoreReport` as JSON.
    public var result: String

    public init(instrument: String, definitionVersion: String, valid: Bool, total: Double?, band: String?, result: String) {
        self.instrument = instrument
        self.definitionVersion = definitionVersion
        self.valid = valid
        self.total = total
        self.band = band
        self.result = result
    }
}

/// A flag to raise for a clinician.
public struct NewFlag: Sendable, Equatable {
    public var kind: String
    /// `urgent` (risk items, risk phrases) or `high`.
    public var severity: String
    /// JSON with the score, item and prompt behind the flag.
    public var evidence: String

    public init(kind: String, severity: String, evidence: String) {
        self.kind = kind
        self.severity = severity
        self.evidence = evidence
    }
}
