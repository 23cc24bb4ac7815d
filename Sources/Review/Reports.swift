import Foundation
public import Instruments

/// A count with what it is out of, so every percentage carries its numbers.
public struct Figure: Sendable, Equatable, Codable {
    public var count: Int
    public var of: Int
    /// nil when `of` is 0.
    public var percent: Double?

    public init(_ count: Int, of total: Int) {
        self.count = count
        self.of = total
        self.percent = total == 0 ? nil : (Double(count) * 1000 / Double(total)).rounded() / 10
    }

    /// `12 of 40 (30.0%)`.
    public var text: String { "\(count) of \(of)" + (percent.map { String(format: " (%.1f%%)", $0) } ?? "") }
}

/// Completeness: what was due in the period and what came of it (issue: Review packs and reports §4).
public struct CompletenessReport: Sendable, Equatable, Codable {
    public var due: Int
    public var sent: Figure
    public var delivered: Figure
    public var answered: Figure
    /// Answered after the check-in closed, inside the pathway's grace (part of `answered`).
    public var late: Figure
    public var missed: Figure
    public var open: Figure
    /// Why due prompts went unanswered: reason → count.
    public var missedReasons: [String: Int]
    /// Baseline prompts due and answered.
    public var baselineAnswered: Figure
    /// People with a baseline score who also have a later one, per measure.
    public var pairedScores: [String: Figure]
    public var byMeasure: [String: Figure]
    /// Review meetings in the scope (cadence and booked, not cancelled): of those whose time has passed, how many were
    /// held, missed, or are overdue (neither yet); and how many are still ahead.
    public var reviews: ReviewFigures = ReviewFigures()

    public struct ReviewFigures: Sendable, Equatable, Codable {
        public var past = 0
        public var held = Figure(0, of: 0)
        public var missed = Figure(0, of: 0)
        public var overdue = Figure(0, of: 0)
        public var ahead = 0

        public init() {}

        /// From counts of reviews by status, split by whether their time has passed.
        public init(_ counts: [ReviewCount]) {
            let past = counts.filter(\.past)
            self.past = past.reduce(0) { $0 + $1.count }
            func count(_ status: String) -> Int { past.filter { $0.status == status }.reduce(0) { $0 + $1.count } }
            held = Figure(count("held"), of: self.past)
            missed = Figure(count("missed"), of: self.past)
            overdue = Figure(count("planned"), of: self.past)
            ahead = counts.filter { !$0.past }.reduce(0) { $0 + $1.count }
        }
    }

    enum CodingKeys: String, CodingKey {
        case due, sent, delivered, answered, late, missed, open
        case missedReasons = "missed_reasons", baselineAnswered = "baseline_answered", pairedScores = "paired_scores", byMeasure = "answered_by_measure"
        case reviews
    }

    public static func build(groups: [PromptGroup], pairs: [ScorePair], reviews: [ReviewCount] = []) -> CompletenessReport {
        let due = groups.reduce(0) { $0 + $1.count }
        func count(_ predicate: (PromptGroup) -> Bool) -> Int { groups.filter(predicate).reduce(0) { $0 + $1.count } }
        var reasons: [String: Int] = [:]
        for group in groups where group.status == "expired" || group.status == "missed" {
            let reason: String
            if !group.sent { reason = group.failed ? "message failed" : "never sent" }
            else if group.reason == nil || group.reason == "closed" { reason = "not answered before the check-in closed" }
            else { reason = group.reason!.replacingOccurrences(of: "_", with: " ") }
            reasons[reason, default: 0] += group.count
        }
        var byMeasure: [String: Figure] = [:]
        for instrument in Set(groups.map(\.instrument)) {
            byMeasure[instrument] = Figure(count { $0.instrument == instrument && $0.status == "answered" }, of: count { $0.instrument == instrument })
        }
        var paired: [String: Figure] = [:]
        for instrument in Set(pairs.map(\.instrument)) {
            let people = pairs.filter { $0.instrument == instrument }
            paired[instrument] = Figure(people.filter { $0.count >= 2 }.count, of: people.count)
        }
        return CompletenessReport(
            due: due, sent: Figure(count(\.sent), of: due), delivered: Figure(count(\.delivered), of: due),
            answered: Figure(count { $0.status == "answered" }, of: due),
            late: Figure(count { $0.status == "answered" && $0.reason == "late" }, of: count { $0.status == "answered" }), missed: Figure(count { $0.status == "expired" || $0.status == "missed" }, of: due),
            open: Figure(count { $0.status == "scheduled" || $0.status == "sent" }, of: due), missedReasons: reasons,
            baselineAnswered: Figure(count { $0.kind == "baseline" && $0.status == "answered" }, of: count { $0.kind == "baseline" }),
            pairedScores: paired, byMeasure: byMeasure, reviews: ReviewFigures(reviews))
    }
}

/// Outcomes for people with paired scores (first and latest), by pathway, team and measure.
public struct OutcomesReport: Sendable, Equatable, Codable {
    public var groups: [Group]

    public struct Group: Sendable, Equatable, Codable {
        public var pathway: String
        public var team: String
        public var instrument: String
        public var people: Int
        public var reliableImprovement: Figure
        public var reliableDeterioration: Figure
        public var noReliableChange: Figure
        /// Among people who were cases at baseline.
        public var recovery: Figure?
        public var reliableRecovery: Figure?
        /// Person ids per class, for drilling down.
        public var members: [String: [String]]

        enum CodingKeys: String, CodingKey {
            case pathway, team, instrument, people, recovery, members
            case reliableImprovement = "reliable_improvement", reliableDeterioration = "reliable_deterioration"
            case noReliableChange = "no_reliable_change", reliableRecovery = "reliable_recovery"
        }
    }

    public static func build(pairs: [ScorePair], catalog: InstrumentCatalog) -> OutcomesReport {
        let paired = pairs.filter { $0.count >= 2 }
        let keys = Set(paired.map { [$0.pathway, $0.team, $0.instrument] }).sorted { $0.joined(separator: "\u{1F}") < $1.joined(separator: "\u{1F}") }
        var groups: [Group] = []
        for key in keys {
            guard let definition = catalog.definition(key[2]), definition.reliableChange != nil else { continue }
            let scorer = Scorer(definition)
            let members = paired.filter { $0.pathway == key[0] && $0.team == key[1] && $0.instrument == key[2] }
            var classes: [String: [String]] = [:]
            var cases = 0, recovered = 0, reliablyRecovered = 0
            for pair in members {
                let change = scorer.classify(from: pair.baseline, to: pair.latest) ?? .noReliableChange
                classes[change.rawValue, default: []].append(pair.personID)
                if let caseness = definition.caseness, scorer.isCase(pair.baseline, threshold: caseness.threshold) {
                    cases += 1
                    if !scorer.isCase(pair.latest, threshold: caseness.threshold) {
                        recovered += 1
                        classes["recovered", default: []].append(pair.personID)
                        if change == .reliableImprovement {
                            reliablyRecovered += 1
                            classes["reliable_recovery", default: []].append(pair.personID)
                        }
                    }
                }
            }
            let n = members.count
            groups.append(Group(pathway: key[0], team: key[1], instrument: key[2], people: n,
                                reliableImprovement: Figure(classes["reliable_improvement"]?.count ?? 0, of: n),
                                reliableDeterioration: Figure(classes["reliable_deterioration"]?.count ?? 0, of: n),
                                noReliableChange: Figure(classes["no_reliable_change"]?.count ?? 0, of: n),
                                recovery: definition.caseness == nil ? nil : Figure(recovered, of: cases),
                                reliableRecovery: definition.caseness == nil ? nil : Figure(reliablyRecovered, of: cases), members: classes))
        }
        return OutcomesReport(groups: groups)
    }
}

/// The non-response pathway: flags raised for missed check-ins, and how fast the team contacted (acknowledged) and
/// reviewed (actioned) them.
public struct NonResponseReport: Sendable, Equatable, Codable {
    public var raised: Int
    public var acknowledged: Figure
    public var actioned: Figure
    public var stillOpen: Figure
    /// Hours from raising to acknowledgement / action: median and 90th percentile (nearest rank), nil with none.
    public var hoursToContactMedian: Double?
    public var hoursToContactP90: Double?
    public var hoursToReviewMedian: Double?
    public var hoursToReviewP90: Double?
    public var flags: [String]

    enum CodingKeys: String, CodingKey {
        case raised, acknowledged, actioned, flags
        case stillOpen = "still_open", hoursToContactMedian = "hours_to_contact_median", hoursToContactP90 = "hours_to_contact_p90"
        case hoursToReviewMedian = "hours_to_review_median", hoursToReviewP90 = "hours_to_review_p90"
    }

    public static func build(flags: [NonResponseFlag]) -> NonResponseReport {
        let n = flags.count
        let contact = flags.compactMap { flag in flag.acknowledgedAt.map { $0.timeIntervalSince(flag.raisedAt) / 3_600 } }.sorted()
        let review = flags.compactMap { flag in flag.actionedAt.map { $0.timeIntervalSince(flag.raisedAt) / 3_600 } }.sorted()
        /// Nearest-rank percentile: the smallest value with at least p% of values at or below it.
        func percentile(_ values: [Double], _ p: Double) -> Double? {
            guard !values.isEmpty else { return nil }
            let rank = max(1, Int((p / 100 * Double(values.count)).rounded(.up)))
            return (values[rank - 1] * 10).rounded() / 10
        }
        return NonResponseReport(raised: n, acknowledged: Figure(flags.filter { $0.acknowledgedAt != nil }.count, of: n),
                                 actioned: Figure(flags.filter { $0.actionedAt != nil }.count, of: n),
                                 stillOpen: Figure(flags.filter { $0.status == "open" }.count, of: n),
                                 hoursToContactMedian: percentile(contact, 50), hoursToContactP90: percentile(contact, 90),
                                 hoursToReviewMedian: percentile(review, 50), hoursToReviewP90: percentile(review, 90), flags: flags.map(\.flagID))
    }
}
