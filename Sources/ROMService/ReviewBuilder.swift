public import Foundation
import Instruments
public import Review
import Scheduling
import Storage

/// Reads what a review pack needs from the store and hands it to the pure assembly.
public struct ReviewBuilder: Sendable {
    let env: ServiceEnvironment

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    /// The pack for `personID`'s review at `reviewAt` (default: the next review on or after `now`, else up to
    /// `now`); nil when there is no such person.
    public func pack(personID: String, reviewAt: Date? = nil, now: Date) async throws -> ReviewPack? {
        try await input(personID: personID, reviewAt: reviewAt, now: now).map(ReviewPack.assemble)
    }

    public func input(personID: String, reviewAt requested: Date? = nil, now: Date) async throws -> ReviewInput? {
        guard let record = try await env.store.person(id: personID) else { return nil }
        let person = record.person
        let records = try await env.store.reviewRecords(personID: personID)
        let catalog = env.configuration.instruments
        let pathway = env.configuration.pathways[person.pathway]
        // Reviews are records (the scheduler keeps the next one for everyone enrolled). The pack for now is the next
        // review's: everything since the previous review, the baseline's answers included. With no review ahead
        // (an ended enrolment), the pack runs to now, so nothing answered is left out.
        let reviewDates = try await env.store.reviews(personID: personID)
            .filter { $0.kind != "baseline" && $0.status != "cancelled" }.map(\.at).sorted()
        let reviewAt = requested ?? reviewDates.first { $0 >= now } ?? now
        let previous = reviewDates.last { $0 < reviewAt }

        let cutoff = reviewAt
        func points(_ instrument: String) -> [ScorePoint] {
            let rows = records.scores.filter { $0.instrument == instrument }
            // Only the latest valid score's explanation is shown: decode that one stored report, not years of them.
            let explained = rows.lastIndex { $0.valid && $0.total != nil && $0.submittedAt <= cutoff }
            return rows.indices.map { index in
                let row = rows[index]
                let report = index == explained ? try? JSONDecoder().decode(ScoreReport.self, from: Data(row.result.utf8)) : nil
                return ScorePoint(responseID: row.responseID, at: row.submittedAt, total: row.total, band: row.band, valid: row.valid,
                                  kind: row.promptKind == "baseline" ? "baseline" : row.promptKind == nil ? "unprompted" : "review",
                                  answers: (try? AnswerParsing.parseList(row.answers)) ?? [], explanation: report?.explanation ?? [])
            }
        }
        // The pathway's measures first, then anything else the person has scores for.
        let order = (pathway?.measures ?? []) + Array(Set(records.scores.map(\.instrument))).sorted()
        var seen = Set<String>()
        var measures: [MeasureHistory] = []
        var goals: GoalHistory?
        for id in order where seen.insert(id).inserted {
            guard let definition = catalog.definition(id) else { continue }
            if definition.itemCount != nil {
                goals = GoalHistory(definition: definition, texts: records.goals, ratings: points(id))
            } else {
                measures.append(MeasureHistory(definition: definition, points: points(id)))
            }
        }
        return ReviewInput(
            personID: person.id, givenName: person.givenName, pathway: person.pathway, team: person.team, reviewAt: reviewAt, previousReviewAt: previous,
            generatedAt: now, timeZone: person.timezone ?? pathway?.timezone ?? env.configuration.settings.defaultTimeZone, measures: measures, goals: goals,
            prompts: records.prompts,
            flags: records.flags.map { flag in
                let described = FlagDescription.describe(kind: flag.kind, evidence: flag.evidence, catalog: catalog)
                return FlagSummary(id: flag.id, kind: flag.kind, severity: flag.severity, status: flag.status, raisedAt: flag.raisedAt,
                                   acknowledgedBy: flag.acknowledgedBy, acknowledgedAt: flag.acknowledgedAt, actionedBy: flag.actionedBy,
                                   actionedAt: flag.actionedAt, note: flag.note, title: described.title, evidenceLines: described.evidence,
                                   instrument: described.instrument)
            },
            notes: records.notes)
    }
}
