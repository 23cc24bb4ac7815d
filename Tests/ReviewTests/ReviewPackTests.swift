import Foundation
import Instruments
import Review
import Testing

@Suite("Review pack assembly")
struct ReviewPackTests {
    @Test("PHQ-9 18 → 9: −9 since baseline is reliable improvement (≥ 6) and reliable recovery (case at ≥ 10, now 9); 14 → 9 since the last review is no reliable change")
    func phq9Change() throws {
        let pack = ReviewPack.assemble(try ReviewFixture.input())
        let phq9 = try #require(pack.measures.first { $0.instrument == "phq9" })
        #expect(phq9.baseline?.total == 18 && phq9.latest?.total == 9)
        #expect(phq9.sinceBaseline == ReviewPack.Change(from: 18, to: 9, delta: -9, change: .reliableImprovement))
        #expect(phq9.sinceLastReview == ReviewPack.Change(from: 14, to: 9, delta: -5, change: .noReliableChange))
        #expect(phq9.recovered == true && phq9.reliableRecovery == true)
        #expect(phq9.latest?.caseness == false && phq9.baseline?.caseness == true)
        #expect(phq9.latest?.bandLabel == "Mild")
    }

    @Test("GAD-7 6 → 12: +6 is reliable deterioration (≥ 4); no recovery figure because the baseline (6 < 8) was not a case")
    func gad7Change() throws {
        let pack = ReviewPack.assemble(try ReviewFixture.input())
        let gad7 = try #require(pack.measures.first { $0.instrument == "gad7" })
        #expect(gad7.sinceBaseline?.change == .reliableDeterioration && gad7.sinceBaseline?.delta == 6)
        #expect(gad7.recovered == nil && gad7.reliableRecovery == nil)
        // The last GAD-7 score at or before the previous review (2 March) is the baseline itself.
        #expect(gad7.sinceLastReview == ReviewPack.Change(from: 6, to: 12, delta: 6, change: .reliableDeterioration))
    }

    @Test("Completeness counts only prompts after the previous review: 3 due, 2 sent, 1 delivered, 2 answered, 1 missed because never sent")
    func completeness() throws {
        let c = ReviewPack.assemble(try ReviewFixture.input()).completeness
        #expect(c.due == 3 && c.sent == 2 && c.delivered == 1 && c.answered == 2 && c.missed == 1 && c.open == 0)
        #expect(c.missedReasons == ["never sent (not answered before the check-in closed)": 1])
    }

    @Test("Goals keep the person's words and their ratings in order; flags come urgent first; earlier interpretations carry over")
    func goalsFlagsNotes() throws {
        let pack = ReviewPack.assemble(try ReviewFixture.input())
        #expect(pack.goals.map(\.text) == ["Walk to the shop on my own", "Sleep through the night"])
        #expect(pack.goals[0].ratings.map(\.value) == [3, 6] && pack.goals[1].ratings.map(\.value) == [2, 4])
        #expect(pack.flags.map(\.id) == ["fl-1", "fl-2"])
        #expect(pack.notes.first?.note == "Sleep better than scores suggest")
    }

    @Test("The chart shades every band, draws the caseness line and the baseline, and breaks the line at the missed check-in instead of joining across it")
    func chart() throws {
        let pack = ReviewPack.assemble(try ReviewFixture.input())
        let svg = try #require(pack.measures.first { $0.instrument == "phq9" }?.chartSVG)
        func count(_ needle: String) -> Int { svg.components(separatedBy: needle).count - 1 }
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(count("class=\"band\"") == 5, "PHQ-9 has five bands")
        #expect(count("class=\"caseness\"") == 1)
        #expect(count("class=\"baseline\"") == 1 && count("class=\"score\"") == 2)
        #expect(count("class=\"missed\"") == 1, "the 2 March check-in was missed")
        // 5 Jan and 2 Feb are joined; 30 Mar stands alone after the gap: one two-point line, nothing across March.
        #expect(count("<polyline") == 1)
        let polyline = try #require(svg.components(separatedBy: "<polyline class=\"scores\" points=\"").dropFirst().first?.components(separatedBy: "\"").first)
        #expect(polyline.split(separator: " ").count == 2)
    }

    @Test("A pack for a past review leaves out scores after it")
    func pastReview() throws {
        var input = try ReviewFixture.input()
        input.reviewAt = ReviewFixture.date("2026-03-02T09:00:00Z")
        input.previousReviewAt = ReviewFixture.date("2026-02-02T09:00:00Z")
        let pack = ReviewPack.assemble(input)
        #expect(pack.measures.first { $0.instrument == "phq9" }?.latest?.total == 14)
    }
}
