/// Routine support or a step-up (crisis) period: which cadence applies.
public enum Mode: String, Sendable, Codable, CaseIterable {
    case routine
    case stepUp = "step_up"
}

/// A person on a pathway: what the planner needs to know about them.
public struct Enrolment: Sendable, Equatable {
    public var id: String
    public var personID: String
    public var pathwayID: String
    public var startDate: LocalDate
    /// The person's zone, or the pathway's when they have none.
    public var timezone: String
    public var mode: Mode
    /// When the mode last changed; future reviews are re-planned from here.
    public var modeChangedAt: Int64?
    /// Measures for this person on top of the pathway's.
    public var extraMeasures: [String]

    public init(id: String, personID: String, pathwayID: String, startDate: LocalDate, timezone: String, mode: Mode = .routine,
                modeChangedAt: Int64? = nil, extraMeasures: [String] = []) {
        self.id = id
        self.personID = personID
        self.pathwayID = pathwayID
        self.startDate = startDate
        self.timezone = timezone
        self.mode = mode
        self.modeChangedAt = modeChangedAt
        self.extraMeasures = extraMeasures
    }
}

/// A review booked by the team (from the API or a CSV column); it re-anchors the cadence.
public struct BookedReview: Sendable, Equatable {
    public var id: String
    /// UTC seconds.
    public var at: Int64

    public init(id: String, at: Int64) {
        self.id = id
        self.at = at
    }
}

/// Which review a prompt belongs to.
public enum ReviewKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The baseline check-in in the first weeks.
    case baseline
    /// A review generated from the cadence, on a local day (days since 1970-01-01).
    case cadence(day: Int)
    /// A booked review, by its id.
    case booked(String)

    /// The form stored in the database: `baseline`, `c:2026-12-01`, `b:<id>`.
    public var description: String {
        switch self {
        case .baseline: return "baseline"
        case .cadence(let day): return "c:\(LocalDate(dayNumber: day))"
        case .booked(let id): return "b:\(id)"
        }
    }

    /// Parses the stored form.
    public init?(_ text: String) {
        if text == "baseline" {
            self = .baseline
        } else if text.hasPrefix("c:"), let date = LocalDate.parse(String(text.dropFirst(2))) {
            self = .cadence(day: date.dayNumber)
        } else if text.hasPrefix("b:"), text.count > 2 {
            self = .booked(String(text.dropFirst(2)))
        } else {
            return nil
        }
    }
}

/// Baseline or before a review.
public enum PromptKind: String, Sendable, Codable, CaseIterable {
    case baseline
    case preReview = "pre_review"
}

/// Where a prompt is in its life. Statuses only move forward: scheduled → sent → answered | expired.
public enum PromptStatus: String, Sendable, Codable, CaseIterable {
    case scheduled
    case sent
    case answered
    case expired

    public var isOpen: Bool { self == .scheduled || self == .sent }
}

/// Why a prompt expired.
public enum ExpiryReason: String, Sendable, Codable {
    /// The check-in window closed unanswered.
    case closed
    /// Its review no longer exists (mode switch, booked review moved or cancelled).
    case replanned
}

/// A prompt as stored, for planning.
public struct PromptState: Sendable, Equatable {
    public var id: String
    public var review: ReviewKey
    public var reviewAt: Int64
    public var instrument: String
    public var kind: PromptKind
    public var sendAt: Int64
    public var closesAt: Int64
    public var reminders: [Int64]
    public var remindersSent: Int
    public var status: PromptStatus
    public var expiryReason: ExpiryReason?

    public init(id: String, review: ReviewKey, reviewAt: Int64, instrument: String, kind: PromptKind, sendAt: Int64, closesAt: Int64,
                reminders: [Int64], remindersSent: Int, status: PromptStatus, expiryReason: ExpiryReason? = nil) {
        self.id = id
        self.review = review
        self.reviewAt = reviewAt
        self.instrument = instrument
        self.kind = kind
        self.sendAt = sendAt
        self.closesAt = closesAt
        self.reminders = reminders
        self.remindersSent = remindersSent
        self.status = status
        self.expiryReason = expiryReason
    }
}

/// What has happened for one enrolment: its prompts, missed check-ins and non-response flags.
public struct SchedulingHistory: Sendable, Equatable {
    public var prompts: [PromptState]
    /// Reviews already recorded as missed check-ins.
    public var missed: Set<ReviewKey>
    /// Reviews at which `recovery_gains_at_risk` was already raised.
    public var nonResponseFlags: Set<ReviewKey>

    public init(prompts: [PromptState] = [], missed: Set<ReviewKey> = [], nonResponseFlags: Set<ReviewKey> = []) {
        self.prompts = prompts
        self.missed = missed
        self.nonResponseFlags = nonResponseFlags
    }
}

extension SchedulingHistory {
    /// Applies the planner's actions as the service would, for simulations (`rom schedule --dry-run`) and tests.
    ///
    /// `newPromptID` names the prompts that `createPrompt` adds.
    public mutating func apply(_ actions: [PlanAction], newPromptID: (PlannedPrompt) -> String) {
        for action in actions {
            switch action {
            case .createPrompt(let p):
                prompts.append(PromptState(id: newPromptID(p), review: p.review, reviewAt: p.reviewAt, instrument: p.instrument, kind: p.kind,
                                           sendAt: p.sendAt, closesAt: p.closesAt, reminders: p.reminders, remindersSent: 0, status: .scheduled))
            case .reschedule(let id, let reviewAt, let sendAt, let closesAt, let reminders):
                guard let i = prompts.firstIndex(where: { $0.id == id }) else { continue }
                prompts[i].reviewAt = reviewAt
                prompts[i].sendAt = sendAt
                prompts[i].closesAt = closesAt
                prompts[i].reminders = reminders
            case .remind(let id, let index):
                guard let i = prompts.firstIndex(where: { $0.id == id }) else { continue }
                prompts[i].remindersSent = index + 1
            case .expire(let id, let reason):
                guard let i = prompts.firstIndex(where: { $0.id == id }) else { continue }
                prompts[i].status = .expired
                prompts[i].expiryReason = reason
            case .recordMissed(let review, _):
                missed.insert(review)
            case .raiseNonResponseFlag(let review, _):
                nonResponseFlags.insert(review)
            }
        }
    }
}
