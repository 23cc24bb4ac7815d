import Instruments
import Testing

@Suite("Reliable change, recovery and the NHS Talking Therapies pair")
struct ChangeTests {
    let phq9 = scorer("phq9")
    let gad7 = scorer("gad7")


    /// PHQ-9 answers summing to `total` with item 9 kept at 0 (so no risk flag interferes).
    func phq9(_ total: Int) -> [Int?] {
        var remaining = total
        return (0..<9).map { index in
            guard index < 8 else { return 0 }
            let value = min(remaining, 3)
            remaining -= value
            return value
        }
    }

    @Test("PHQ-9 18 → 12 is reliable improvement: a drop of 6 meets the inclusive threshold of 6")
    func phq9Improvement() throws {
        let score = try phq9.score(phq9(12), baseline: phq9(18))
        #expect(score.baselineTotal == 18)
        #expect(score.scoreChange == -6)
        #expect(score.change == .reliableImprovement)
    }

    @Test("PHQ-9 18 → 13 is no reliable change; 12 → 18 is reliable deterioration")
    func phq9NoChangeAndDeterioration() throws {
        #expect(try phq9.score(phq9(13), baseline: phq9(18)).change == .noReliableChange)
        #expect(try phq9.score(phq9(18), baseline: phq9(12)).change == .reliableDeterioration)
    }

    @Test("GAD-7 reliable change is 4 points: 12 → 8 improves, 12 → 9 does not")
    func gad7Change() throws {
        #expect(try gad7.score(answers(summingTo: 8, count: 7, maxValue: 3), baseline: answers(summingTo: 12, count: 7, maxValue: 3)).change == .reliableImprovement)
        #expect(try gad7.score(answers(summingTo: 9, count: 7, maxValue: 3), baseline: answers(summingTo: 12, count: 7, maxValue: 3)).change == .noReliableChange)
    }

    @Test("Recovery: PHQ-9 12 → 8 is recovered without reliable improvement, so not reliable recovery")
    func recoveredNotReliable() throws {
        let score = try phq9.score(phq9(8), baseline: phq9(12))
        #expect(score.recovered == true)
        #expect(score.change == .noReliableChange)
        #expect(score.reliableRecovery == false)
    }

    @Test("Reliable recovery: PHQ-9 15 → 9 is below caseness and a drop of 6")
    func reliableRecovery() throws {
        let score = try phq9.score(phq9(9), baseline: phq9(15))
        #expect(score.recovered == true)
        #expect(score.reliableRecovery == true)
    }

    @Test("Recovery is null when the baseline is below caseness (left out of the NHS denominator)")
    func recoveryNotApplicable() throws {
        let score = try phq9.score(phq9(3), baseline: phq9(8))
        #expect(score.recovered == nil)
        #expect(score.reliableRecovery == nil)
    }

    @Test("Still at caseness after a reliable drop: PHQ-9 22 → 14 improved, not recovered")
    func improvedNotRecovered() throws {
        let score = try phq9.score(phq9(14), baseline: phq9(22))
        #expect(score.change == .reliableImprovement)
        #expect(score.recovered == false)
        #expect(score.reliableRecovery == false)
    }

    @Test("Jacobson–Truax thresholds for CORE-10 (SD 7.7, α 0.90): 6.75 at 95 %, 5.66 at 90 % (instruments.md §13)")
    func jacobsonTruax() {
        let at95 = ReliableChangeRule.jacobsonTruax(sd: 7.7, reliability: 0.9, z: 1.96, source: nil).threshold
        let at90 = ReliableChangeRule.jacobsonTruax(sd: 7.7, reliability: 0.9, z: 1.645, source: nil).threshold
        #expect(abs(at95 - 6.75) < 0.01)
        #expect(abs(at90 - 5.66) < 0.01)
    }

    @Test("Instruments with no published change rule report the score change but no class (K10)")
    func noChangeRule() throws {
        let score = try scorer("k10").score(Array(repeating: 2, count: 10), baseline: Array(repeating: 4, count: 10))
        #expect(score.scoreChange == -20)
        #expect(score.change == nil)
    }

    @Test("Goals change on the mean against the 3-point setting: 0.5 → 4 is an improvement")
    func goalsChange() throws {
        #expect(try scorer("goals").score([3, 5], baseline: [0, 1]).change == .reliableImprovement)
    }

    @Test("NHS pair: PHQ-9 15 → 8 and GAD-7 10 → 6 is reliable improvement, recovery and reliable recovery")
    func pairRecovered() throws {
        let depression = try phq9.score(phq9(8), baseline: phq9(15))
        let anxiety = try gad7.score(answers(summingTo: 6, count: 7, maxValue: 3), baseline: answers(summingTo: 10, count: 7, maxValue: 3))
        let outcome = try #require(TalkingTherapiesOutcome.classify(phq9: depression, gad7: anxiety, phq9Rules: phq9.definition, gad7Rules: gad7.definition))
        #expect(outcome.caseAtStart)
        #expect(!outcome.caseAtEnd)
        #expect(outcome.change == .reliableImprovement)
        #expect(outcome.recovered == true)
        #expect(outcome.reliableRecovery == true)
    }

    @Test("NHS pair: below caseness on one measure only at the end (GAD-7 still 8) is not recovered")
    func pairStillCase() throws {
        let depression = try phq9.score(phq9(5), baseline: phq9(15))
        let anxiety = try gad7.score(answers(summingTo: 8, count: 7, maxValue: 3), baseline: answers(summingTo: 9, count: 7, maxValue: 3))
        let outcome = try #require(TalkingTherapiesOutcome.classify(phq9: depression, gad7: anxiety, phq9Rules: phq9.definition, gad7Rules: gad7.definition))
        #expect(outcome.recovered == false)
    }

    @Test("NHS pair: a PHQ-9 improvement with a GAD-7 reliable deterioration is never reported as improvement")
    func pairMixed() throws {
        let depression = try phq9.score(phq9(8), baseline: phq9(15))
        let anxiety = try gad7.score(answers(summingTo: 14, count: 7, maxValue: 3), baseline: answers(summingTo: 9, count: 7, maxValue: 3))
        let outcome = try #require(TalkingTherapiesOutcome.classify(phq9: depression, gad7: anxiety, phq9Rules: phq9.definition, gad7Rules: gad7.definition))
        #expect(outcome.change == .reliableDeterioration)
        #expect(outcome.reliableRecovery == false)
    }

    @Test("NHS pair: neither measure at caseness at the start leaves recovery undefined")
    func pairNotCase() throws {
        let depression = try phq9.score(phq9(2), baseline: phq9(6))
        let anxiety = try gad7.score(answers(summingTo: 2, count: 7, maxValue: 3), baseline: answers(summingTo: 5, count: 7, maxValue: 3))
        let outcome = try #require(TalkingTherapiesOutcome.classify(phq9: depression, gad7: anxiety, phq9Rules: phq9.definition, gad7Rules: gad7.definition))
        #expect(outcome.recovered == nil)
        #expect(outcome.reliableRecovery == nil)
    }
}
