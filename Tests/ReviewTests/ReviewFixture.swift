import Foundation
import Instruments
import Review
import ROMTesting

/// A fixed history with hand-chosen totals, so every expected figure follows from the published rules:
/// PHQ-9 caseness ≥ 10 and reliable change 6 points; GAD-7 caseness ≥ 8 and reliable change 4 points
/// (NHS Talking Therapies, references/instruments.md).
enum ReviewFixture {
    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    /// PHQ-9 answers summing to `total` (item 9 left at 0).
    static func phq9(_ total: Int) -> [Int?] {
        var answers = [Int?](repeating: 0, count: 9)
        var left = total
        for index in 0..<8 where left > 0 { let value = min(3, left); answers[index] = value; left -= value }
        return answers
    }

    static func gad7(_ total: Int) -> [Int?] {
        var answers = [Int?](repeating: 0, count: 7)
        var left = total
        for index in 0..<7 where left > 0 { let value = min(3, left); answers[index] = value; left -= value }
        return answers
    }

    static func input() throws -> ReviewInput {
        let catalog = try Fixtures.catalog()
        func point(_ id: String, _ at: String, _ total: Double, _ band: String, _ kind: String, _ answers: [Int?]) -> ScorePoint {
            ScorePoint(responseID: id, at: date(at), total: total, band: band, valid: true, kind: kind, answers: answers, explanation: ["Sum of items = \(Int(total))"])
        }
        let phq9 = MeasureHistory(definition: catalog.definition("phq9")!, points: [
            point("rs-a1", "2026-01-05T18:00:00Z", 18, "moderately_severe", "baseline", phq9(18)),
            point("rs-a2", "2026-02-02T18:00:00Z", 14, "moderate", "review", phq9(14)),
            point("rs-a3", "2026-03-30T18:00:00Z", 9, "mild", "review", phq9(9)),
        ])
        let gad7 = MeasureHistory(definition: catalog.definition("gad7")!, points: [
            point("rs-b1", "2026-01-05T18:00:00Z", 6, "mild", "baseline", gad7(6)),
            point("rs-b3", "2026-03-30T18:00:00Z", 12, "moderate", "review", gad7(12)),
        ])
        let goals = GoalHistory(definition: catalog.definition("goals")!, texts: [1: "Walk to the shop on my own", 2: "Sleep through the night"], ratings: [
            point("rs-c1", "2026-01-05T18:00:00Z", 3, "", "baseline", [3, 2]),
            point("rs-c3", "2026-03-30T18:00:00Z", 6, "", "review", [6, 4]),
        ])
        func prompt(_ instrument: String, _ review: String, _ status: String, _ reason: String?, _ delivery: String?) -> PromptRecord {
            PromptRecord(instrument: instrument, kind: "pre_review", reviewAt: date(review), closesAt: date(review).addingTimeInterval(-86_400),
                         status: status, statusReason: reason, delivery: delivery)
        }
        return ReviewInput(
            personID: "p1", givenName: "Ana", pathway: "community", team: "north",
            reviewAt: date("2026-03-31T09:00:00Z"), previousReviewAt: date("2026-03-02T09:00:00Z"), generatedAt: date("2026-03-30T20:00:00Z"),
            timeZone: "Europe/London", measures: [phq9, gad7], goals: goals,
            prompts: [
                prompt("phq9", "2026-03-02T09:00:00Z", "expired", "closed", "accepted"),
                prompt("gad7", "2026-03-02T09:00:00Z", "expired", "closed", "accepted"),
                prompt("phq9", "2026-03-31T09:00:00Z", "answered", nil, "delivered"),
                prompt("gad7", "2026-03-31T09:00:00Z", "answered", nil, "accepted"),
                prompt("goals", "2026-03-31T09:00:00Z", "expired", "closed", nil),
            ],
            flags: [
                FlagSummary(id: "fl-2", kind: "reliable_deterioration", severity: "high", status: "open", raisedAt: date("2026-03-30T18:00:00Z"),
                            acknowledgedBy: nil, acknowledgedAt: nil, actionedBy: nil, actionedAt: nil, note: nil),
                FlagSummary(id: "fl-1", kind: "PHQ9_ITEM9_POSITIVE", severity: "urgent", status: "actioned", raisedAt: date("2026-02-02T18:00:00Z"),
                            acknowledgedBy: "tok_c1", acknowledgedAt: date("2026-02-02T19:00:00Z"), actionedBy: "tok_c1",
                            actionedAt: date("2026-02-03T10:00:00Z"), note: "Called; safety plan reviewed"),
            ],
            notes: [ReviewNote(reviewAt: date("2026-03-02T09:00:00Z"), author: "tok_c1", recordedAt: date("2026-03-02T10:00:00Z"),
                               matchesExperience: "partly", note: "Sleep better than scores suggest")])
    }
}
