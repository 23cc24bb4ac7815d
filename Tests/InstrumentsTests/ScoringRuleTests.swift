import Instruments
import Testing

@Suite("Proration, reversal, transforms and risk items")
struct ScoringRuleTests {
    @Test("PHQ-9 with one item missing and a raw sum of 4 prorates to 4 × 9/8 = 4.5, rounded half up to 5 (CMS MDS 3.0; banker's rounding would give 4)")
    func phq9HalfUpTie() throws {
        let score = try scorer("phq9").score([1, 1, 1, 1, 0, 0, 0, nil, 0])
        #expect(score.valid)
        #expect(score.prorated)
        #expect(score.total == 5)
        #expect(score.band == "mild")
    }

    @Test("PHQ-9 with two items missing prorates by 9/7: raw 10 → 12.857 → 13")
    func phq9TwoMissing() throws {
        let score = try scorer("phq9").score([3, 3, 2, 2, 0, 0, 0, nil, nil])
        #expect(score.total == 13)
        #expect(score.prorated)
    }

    @Test("PHQ-9 with three items missing is not scored, and says how many were missing and the limit")
    func phq9TooManyMissing() throws {
        let score = try scorer("phq9").score([3, 3, 3, 3, 3, 3, nil, nil, nil])
        #expect(!score.valid)
        #expect(score.total == nil)
        #expect(score.band == nil)
        #expect(score.explanation.contains { $0.contains("3 of 9") && $0.contains("at most 2") })
    }

    @Test("GAD-7 allows one missing item (× 7/6, half up; ASSUMED policy) and not two")
    func gad7Missing() throws {
        let one = try scorer("gad7").score([2, 2, 2, 1, 1, 1, nil])
        #expect(one.total == 11, "9 × 7/6 = 10.5 rounds half up to 11")
        let two = try scorer("gad7").score([2, 2, 2, 1, 1, nil, nil])
        #expect(!two.valid)
    }

    @Test("K10 with one missing item prorates × 10/9, half up: raw 18 → 20")
    func k10Missing() throws {
        let score = try scorer("k10").score([2, 2, 2, 2, 2, 2, 2, 2, 2, nil])
        #expect(score.total == 20)
        #expect(score.band == "mild")
    }

    @Test("CORE-10 reverses items 2 and 3 (4 − answer): all answers 0 give a clinical score of 8, all 4 give 32")
    func core10Reversal() throws {
        let zeros = try scorer("core10").score(Array(repeating: 0, count: 10))
        #expect(zeros.total == 8)
        let fours = try scorer("core10").score(Array(repeating: 4, count: 10))
        #expect(fours.total == 32)
    }

    @Test("CORE-10 with one item missing is the mean of nine × 10, not rounded: raw 10 → 11.11…, mild and at caseness")
    func core10Proration() throws {
        // Items 2 and 3 answered 4 reverse to 0; items 1, 4, 5, 7, 8, 9 sum to 10; item 10 missing.
        let score = try scorer("core10").score([2, 4, 4, 2, 2, 0, 2, 1, 1, nil])
        #expect(score.prorated)
        #expect(abs((score.total ?? 0) - 100.0 / 9.0) < 1e-9)
        #expect(score.band == "mild")
        #expect(score.caseness == true)
        let two = try scorer("core10").score([2, 4, 4, 2, 2, 0, 2, 1, nil, nil])
        #expect(!two.valid, "CORE-10 may be prorated only when one item is omitted")
    }

    @Test("PHQ-9 item 9 above 0 raises PHQ9_ITEM9_POSITIVE even when the form has too many missing items")
    func phq9RiskOnInvalidForm() throws {
        let score = try scorer("phq9").score([nil, nil, nil, 0, 0, 0, 0, 0, 1])
        #expect(!score.valid)
        #expect(score.riskFlags == [RiskFlag(item: 9, value: 1, flag: "PHQ9_ITEM9_POSITIVE")])
    }

    @Test("An unanswered PHQ-9 item 9 raises PHQ9_ITEM9_UNANSWERED (ASSUMED safety policy)")
    func phq9RiskUnanswered() throws {
        let score = try scorer("phq9").score([0, 0, 0, 0, 0, 0, 0, 0, nil])
        #expect(score.riskFlags == [RiskFlag(item: 9, value: nil, flag: "PHQ9_ITEM9_UNANSWERED")])
        #expect(try scorer("phq9").score(Array(repeating: 0, count: 9)).riskFlags.isEmpty)
    }

    @Test("CORE-10 item 6 (plans to end my life) above 0 raises CORE10_ITEM6_POSITIVE")
    func core10Risk() throws {
        let score = try scorer("core10").score([0, 4, 4, 0, 0, 2, 0, 0, 0, 0])
        #expect(score.riskFlags.map(\.flag) == ["CORE10_ITEM6_POSITIVE"])
        #expect(score.riskFlags.first?.value == 2)
    }

    @Test("A risk scan finds item 9 even when the form cannot be scored at all")
    func riskScanOnMalformed() {
        #expect(scorer("phq9").riskScan([0, 0, 0, 0, 0, 0, 0, 0, 2, 0]).map(\.flag) == ["PHQ9_ITEM9_POSITIVE"])
    }

    @Test("WSAS with the work item not applicable totals items 2–5, not prorated")
    func wsasNotApplicable() throws {
        let score = try scorer("wsas").score([nil, 2, 4, 1, 0], context: ["work_not_applicable": true])
        #expect(score.valid)
        #expect(score.total == 7)
        #expect(!score.prorated)
        #expect(score.band == "subclinical")
    }

    @Test("WSAS with a missing applicable item is not scored")
    func wsasMissing() throws {
        #expect(!(try scorer("wsas").score([nil, 2, 4, 1, 0])).valid)
    }

    @Test("SWEMWBS converts raw totals with the Rasch table: 7 → 7.00, 23 → 20.73, 35 → 35.00; any missing item is not scored")
    func swemwbsTransform() throws {
        #expect(try scorer("swemwbs").score(Array(repeating: 1, count: 7)).total == 7.00)
        #expect(try scorer("swemwbs").score([5, 5, 5, 2, 2, 2, 2]).total == 20.73)
        #expect(try scorer("swemwbs").score(Array(repeating: 5, count: 7)).total == 35.00)
        #expect(!(try scorer("swemwbs").score([5, 5, 5, 2, 2, 2, nil])).valid)
    }

    @Test("DIALOG reports the mean of items 1–8 as quality of life and the mean of 9–11 as treatment satisfaction")
    func dialog() throws {
        let score = try scorer("dialog").score([4, 5, 3, 6, 2, 7, 5, 4, 6, 6, 3])
        #expect(score.total == 36.0 / 8.0)
        #expect(score.subscales.first { $0.id == "subjective_quality_of_life" }?.value == 36.0 / 8.0)
        #expect(score.subscales.first { $0.id == "treatment_satisfaction" }?.value == 5)
    }

    @Test("Goals: one to five goals, each 0–10; the total is their mean")
    func goals() throws {
        #expect(try scorer("goals").score([3, 5]).total == 4)
        #expect(try scorer("goals").score([10]).total == 10)
        #expect(throws: ScoringError.self) { try scorer("goals").score([]) }
        #expect(throws: ScoringError.self) { try scorer("goals").score([1, 2, 3, 4, 5, 6]) }
    }
}
