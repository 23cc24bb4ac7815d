public import Foundation

// What the reports are built from, as the store reads it: plain values, so the report assembly is pure.

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

/// Review meetings in a report's scope counted by status and by whether their time had passed.
public struct ReviewCount: Sendable, Equatable {
    public var status: String
    public var past: Bool
    public var count: Int

    public init(status: String, past: Bool, count: Int) {
        self.status = status
        self.past = past
        self.count = count
    }
}
