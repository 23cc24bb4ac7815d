import Foundation
import Review
import Testing

@Suite("Review workflow")
struct ReviewWorkflowTests {
    let now = Date(timeIntervalSince1970: 1_796_000_000)

    @Test("Held needs the interpretation first and not before the review's day; missed only once its time has passed; only planned reviews, never the baseline")
    func rules() {
        let past = now.addingTimeInterval(-3_600)
        let nextWeek = now.addingTimeInterval(7 * 86_400)
        #expect(ReviewWorkflow.problem(kind: "cadence", status: "planned", at: past, marking: .held, interpretation: "Scores match her account", now: now) == nil)
        #expect(ReviewWorkflow.problem(kind: "cadence", status: "planned", at: past, marking: .held, interpretation: "  ", now: now)?.contains("interpretation") == true)
        #expect(ReviewWorkflow.problem(kind: "cadence", status: "planned", at: nextWeek, marking: .held, interpretation: "x", now: now) != nil)
        #expect(ReviewWorkflow.problem(kind: "booked", status: "planned", at: now.addingTimeInterval(3_600), marking: .held, interpretation: "x", now: now) == nil,
                "held on its day, a little ahead of the booked time")
        #expect(ReviewWorkflow.problem(kind: "cadence", status: "planned", at: past, marking: .missed, interpretation: nil, now: now) == nil)
        #expect(ReviewWorkflow.problem(kind: "cadence", status: "planned", at: now.addingTimeInterval(60), marking: .missed, interpretation: nil, now: now) != nil)
        #expect(ReviewWorkflow.problem(kind: "cadence", status: "held", at: past, marking: .missed, interpretation: nil, now: now) == "this review is held already")
        #expect(ReviewWorkflow.problem(kind: "baseline", status: "planned", at: past, marking: .held, interpretation: "x", now: now) != nil)
    }
}
