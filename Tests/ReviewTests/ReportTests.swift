import Intake
import Foundation
import Instruments
import Logging
import Review
import ROMService
import ROMTesting
import SQLKit
import Scheduling
import Storage
import Testing

/// Report figures against counts worked out by hand from the published PHQ-9 rules (caseness ≥ 10, reliable
/// change 6 points).
@Suite("Reports")
struct ReportTests {
    func group(_ instrument: String, _ kind: String, _ status: String, _ reason: String?, sent: Bool, delivered: Bool = false, failed: Bool = false,
               _ count: Int) -> PromptGroup {
        PromptGroup(instrument: instrument, kind: kind, status: status, reason: reason, sent: sent, delivered: delivered, failed: failed, count: count)
    }

    @Test("Completeness: 12 due → 10 sent, 5 delivered, 8 answered, 3 missed (2 closed unanswered, 1 failed message), 1 open; baseline 3 of 4")
    func completeness() {
        let report = CompletenessReport.build(groups: [
            group("phq9", "pre_review", "answered", nil, sent: true, delivered: true, 5),
            group("phq9", "pre_review", "expired", "closed", sent: true, 2),
            group("phq9", "pre_review", "expired", "closed", sent: false, failed: true, 1),
            group("gad7", "baseline", "answered", nil, sent: true, 3),
            group("gad7", "baseline", "scheduled", nil, sent: false, 1),
        ], pairs: [])
        #expect(report.due == 12)
        #expect(report.sent == Figure(10, of: 12) && report.delivered == Figure(5, of: 12))
        #expect(report.answered == Figure(8, of: 12) && report.answered.percent == 66.7)
        #expect(report.missed == Figure(3, of: 12) && report.open == Figure(1, of: 12))
        #expect(report.missedReasons == ["not answered before the check-in closed": 2, "message failed": 1])
        #expect(report.baselineAnswered == Figure(3, of: 4) && report.baselineAnswered.percent == 75)
        #expect(report.byMeasure["phq9"] == Figure(5, of: 8))
    }

    @Test("Outcomes: 18→9 reliable improvement and reliable recovery; 12→16 no reliable change; 8→15 reliable deterioration; 11→6 recovered but not reliably; a single score is not a pair")
    func outcomes() throws {
        func pair(_ id: String, _ baseline: Double, _ latest: Double, count: Int = 2) -> ScorePair {
            ScorePair(personID: id, pathway: "community", team: "north", instrument: "phq9", baseline: baseline, latest: latest, count: count)
        }
        let report = OutcomesReport.build(pairs: [pair("a", 18, 9), pair("b", 12, 16), pair("c", 8, 15), pair("d", 11, 6), pair("e", 20, 20, count: 1)],
                                          catalog: try Fixtures.catalog())
        let group = try #require(report.groups.first)
        #expect(report.groups.count == 1 && group.people == 4)
        #expect(group.reliableImprovement == Figure(1, of: 4) && group.reliableImprovement.percent == 25)
        #expect(group.noReliableChange == Figure(2, of: 4) && group.reliableDeterioration == Figure(1, of: 4))
        // Cases at baseline (≥ 10): a, b, d. Recovered (now < 10): a, d. Reliably: a.
        #expect(group.recovery == Figure(2, of: 3) && group.recovery?.percent == 66.7)
        #expect(group.reliableRecovery == Figure(1, of: 3))
        #expect(group.members["reliable_deterioration"] == ["c"] && group.members["reliable_recovery"] == ["a"])
    }

    @Test("Non-response: contacted 2 of 3 (median 2 h, 90th centile 5 h by nearest rank), reviewed 1 of 3 after 26 h, 1 still open")
    func nonResponse() {
        let t = Fixtures.fixedNow
        let flags = [
            NonResponseFlag(flagID: "f1", personID: "a", team: "north", pathway: "community", raisedAt: t, acknowledgedAt: t.addingTimeInterval(2 * 3_600),
                            actionedAt: t.addingTimeInterval(26 * 3_600), status: "actioned"),
            NonResponseFlag(flagID: "f2", personID: "b", team: "north", pathway: "community", raisedAt: t, acknowledgedAt: t.addingTimeInterval(5 * 3_600),
                            actionedAt: nil, status: "acknowledged"),
            NonResponseFlag(flagID: "f3", personID: "c", team: "north", pathway: "community", raisedAt: t, acknowledgedAt: nil, actionedAt: nil, status: "open"),
        ]
        let report = NonResponseReport.build(flags: flags)
        #expect(report.raised == 3 && report.acknowledged == Figure(2, of: 3) && report.actioned == Figure(1, of: 3) && report.stillOpen == Figure(1, of: 3))
        #expect(report.hoursToContactMedian == 2 && report.hoursToContactP90 == 5)
        #expect(report.hoursToReviewMedian == 26 && report.hoursToReviewP90 == 26)
    }

    @Test("The SQL behind outcomes picks each person's first and latest valid score, ignores invalid and superseded ones, and keeps latest scores inside the period")
    func scorePairsFromSQLite() async throws {
        try await Fixtures.withStore { store, _ in
            let start = try #require(LocalDate.parse("2026-01-01"))
            let people = [Person(id: "p1", givenName: "Ana", phone: "+447700900001", email: nil, timezone: nil, pathway: "community", startDate: start, clinician: nil, team: "north"),
                          Person(id: "p2", givenName: "Ben", phone: "+447700900002", email: nil, timezone: nil, pathway: "community", startDate: start, clinician: nil, team: "south")]
            try await store.insertPeople(people, now: Fixtures.fixedNow)
            func score(_ person: String, _ day: String, _ total: Double?, valid: Bool = true) async throws -> String {
                let at = ISO8601DateFormatter().date(from: "\(day)T12:00:00Z")!
                return try await store.insertResponse(personID: person, promptID: nil, answers: "", context: "", source: "api",
                                                      score: NewScore(instrument: "phq9", definitionVersion: "1", valid: valid, total: total, band: nil, result: "{}"),
                                                      submittedAt: at, now: at).1
            }
            _ = try await score("p1", "2026-01-05", 18)
            _ = try await score("p1", "2026-02-05", nil, valid: false)
            _ = try await score("p1", "2026-03-05", 12)
            _ = try await score("p1", "2026-07-05", 4)        // after the period: not the latest for it
            _ = try await score("p2", "2026-01-10", 9)         // only one score in range for p2 … and it is before the period
            let superseded = try await score("p1", "2026-03-20", 30)
            try await store.transaction { db in try await db.raw("UPDATE scores SET superseded_by = 'x' WHERE id = \(bind: superseded)").run() }
            let scope = ReportScope(from: ISO8601DateFormatter().date(from: "2026-02-01T00:00:00Z")!, to: ISO8601DateFormatter().date(from: "2026-06-01T00:00:00Z")!,
                                    pathway: nil, team: nil)
            let pairs = try await store.scorePairs(scope)
            #expect(pairs == [ScorePair(personID: "p1", pathway: "community", team: "north", instrument: "phq9", baseline: 18, latest: 12, count: 2)])
            let south = try await store.scorePairs(ReportScope(from: scope.from, to: scope.to, pathway: nil, team: "south"))
            #expect(south.isEmpty, "p2's only score is before the period")
        }
    }

    @Test("Review figures: of the reviews whose time has passed, held, missed and overdue; the rest ahead")
    func reviewFigures() {
        let figures = CompletenessReport.ReviewFigures([ReviewCount(status: "held", past: true, count: 6), ReviewCount(status: "missed", past: true, count: 1),
                                                        ReviewCount(status: "planned", past: true, count: 3), ReviewCount(status: "planned", past: false, count: 12)])
        #expect(figures.past == 10)
        #expect(figures.held == Figure(6, of: 10) && figures.held.percent == 60)
        #expect(figures.missed == Figure(1, of: 10) && figures.overdue == Figure(3, of: 10))
        #expect(figures.ahead == 12)
    }
}
