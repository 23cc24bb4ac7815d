import Foundation
import Scheduling
import Testing

/// The review records the scheduler keeps, as values: which to plan, which to cancel.
@Suite("Review records")
struct ReviewRecordsPlanTests {
    let planner = Planner(pathway: community(), zone: london)

    func planned(_ changes: [ReviewChange]) -> [String] {
        changes.compactMap { if case .plan(let review) = $0 { return "\(review.key) \(iso(review.at))" } else { return nil } }
    }

    @Test("Enrolled today with no prompts yet: the baseline and the first review after now (28 days on, 09:00 local) are planned")
    func firstReviewExistsAtOnce() {
        let now = utc("2026-11-02T08:00:00Z")
        let changes = planner.reviewChanges(for: enrolment(), booked: [], recorded: [], now: now, horizon: now + 86_400)
        #expect(planned(changes) == ["baseline 2026-11-02T00:00:00Z", "c:2026-11-30 2026-11-30T09:00:00Z"])
    }

    @Test("Recorded already: nothing changes; a later day adds only the reviews that came into view")
    func idempotent() {
        let now = utc("2026-11-02T08:00:00Z")
        let recorded = [RecordedReview(key: .baseline, at: utc("2026-11-02T00:00:00Z")), RecordedReview(key: .cadence(day: LocalDate.parse("2026-11-30")!.dayNumber), at: utc("2026-11-30T09:00:00Z"))]
        #expect(planner.reviewChanges(for: enrolment(), booked: [], recorded: recorded, now: now, horizon: now + 86_400).isEmpty)
        let later = utc("2026-12-01T08:00:00Z")
        #expect(planned(planner.reviewChanges(for: enrolment(), booked: [], recorded: recorded, now: later, horizon: later + 86_400)) == ["c:2026-12-28 2026-12-28T09:00:00Z"])
    }

    @Test("A switch to step-up cancels the planned 4-weekly review and plans weekly ones from the switch")
    func modeSwitch() {
        let switchAt = utc("2026-11-10T10:00:00Z")
        let recorded = [RecordedReview(key: .baseline, at: utc("2026-11-02T00:00:00Z")), RecordedReview(key: .cadence(day: LocalDate.parse("2026-11-30")!.dayNumber), at: utc("2026-11-30T09:00:00Z"))]
        let changes = planner.reviewChanges(for: enrolment(mode: .stepUp, changedAt: switchAt), booked: [], recorded: recorded, now: switchAt, horizon: switchAt + 86_400)
        #expect(changes.contains(.cancel(.cadence(day: LocalDate.parse("2026-11-30")!.dayNumber))))
        #expect(planned(changes).first == "c:2026-11-17 2026-11-17T09:00:00Z")
    }
}
