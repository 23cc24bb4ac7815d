import Foundation
import Instruments
import Intake
import ROMTesting
import Testing

/// The flag rules without a database: the published thresholds in references/instruments.md.
@Suite("Flag rules")
struct FlagRulesTests {
    let catalog: InstrumentCatalog = try! Fixtures.catalog()

    @Test("PHQ-9 item 9 answered 1 or more is an urgent risk flag whatever the total (Kroenke et al. 2001: any positive answer to item 9)",
          arguments: [1, 2, 3])
    func itemNine(value: Int) throws {
        let scorer = try catalog.scorer("phq9")
        let score = try scorer.score([0, 0, 0, 0, 0, 0, 0, 0, value])
        let flags = FlagRules.flags(for: score, promptID: "pr_1", source: "sms")
        #expect(flags.map(\.kind) == ["PHQ9_ITEM9_POSITIVE"])
        #expect(flags.first?.severity == "urgent")
        let flag = try #require(flags.first)
        let evidence = try #require(try JSONSerialization.jsonObject(with: Data(flag.evidence.utf8)) as? [String: Any])
        #expect(evidence["item"] as? Int == 9 && evidence["value"] as? Int == value && evidence["prompt"] as? String == "pr_1")
    }

    @Test("PHQ-9 item 9 answered 0 raises nothing; a total of 20 or more is the severe band (20–27)")
    func severeBand() throws {
        let scorer = try catalog.scorer("phq9")
        #expect(FlagRules.flags(for: try scorer.score([2, 2, 2, 2, 2, 2, 2, 2, 0]), promptID: nil, source: "api").isEmpty, "16 is moderately severe")
        let severe = FlagRules.flags(for: try scorer.score([3, 3, 3, 3, 3, 3, 2, 0, 0]), promptID: nil, source: "api")
        #expect(severe.map(\.kind) == ["severe_band"], "20 is severe")
        #expect(severe.first?.severity == "high")
    }

    @Test("PHQ-9 reliable deterioration: a rise of 6 or more from baseline (reliable change index 6)")
    func deterioration() throws {
        let scorer = try catalog.scorer("phq9")
        let baseline: [Int?] = [1, 1, 1, 1, 1, 0, 0, 0, 0]      // 5
        let worse = try scorer.score([2, 2, 2, 1, 1, 1, 1, 1, 0], baseline: baseline)   // 11: +6
        #expect(FlagRules.flags(for: worse, promptID: nil, source: "form").map(\.kind) == ["reliable_deterioration"])
        let notReliable = try scorer.score([2, 2, 2, 1, 1, 1, 1, 0, 0], baseline: baseline)   // 10: +5
        #expect(FlagRules.flags(for: notReliable, promptID: nil, source: "form").isEmpty)
    }

    @Test("A risk scan of answers that cannot be scored still finds item 9 (a saved draft, a reply with too few answers)")
    func riskScan() throws {
        let scorer = try catalog.scorer("phq9")
        let partial: [Int?] = [2, nil, nil, nil, nil, nil, nil, nil, 1]
        #expect(throws: ScoringError.self) { try scorer.score(Array(partial.prefix(5))) }
        let flags = FlagRules.riskScan(partial, scorer: scorer, promptID: "pr_9", source: "saved_draft")
        #expect(flags.map(\.kind) == ["PHQ9_ITEM9_POSITIVE"])
        #expect(flags.first?.severity == "urgent")
        #expect(FlagRules.riskScan([2, 2, nil, nil, nil, nil, nil, nil, 0], scorer: scorer, promptID: nil, source: "sms").isEmpty)
    }

    @Test("The standing-flag rule: one open deterioration or severe-band flag per measure; risk answers always raise")
    func standing() {
        let severe = NewFlag(kind: "severe_band", severity: "high", evidence: "{}")
        let risk = NewFlag(kind: "PHQ9_ITEM9_POSITIVE", severity: "urgent", evidence: "{}")
        #expect(FlagRules.raises(severe, alreadyOpenForMeasure: false))
        #expect(!FlagRules.raises(severe, alreadyOpenForMeasure: true))
        #expect(FlagRules.raises(risk, alreadyOpenForMeasure: true))
    }
}

@Suite("Risk phrases")
struct RiskPhrasesTests {
    let phrases = RiskPhrases(RiskPhrases.defaults)

    @Test("Case, spacing and punctuation are ignored", arguments: [
        "I can't do this any more", "i CANT do this anymore!!!", "Can’t... do this   any-more", "I want to END MY LIFE", "thinking of suicide",
        "please stop texting me, I might kill myself",
    ])
    func matches(text: String) {
        #expect(phrases.firstMatch(in: text) != nil, "`\(text)` should raise free_text_risk")
    }

    @Test("Word boundaries hold: no flag for words that merely contain a phrase", arguments: [
        "please stop texting me", "I spend it all on the bus", "feeling better, thanks", "not sure about Tuesday", "P3 1 2 0", "",
    ])
    func noMatch(text: String) {
        #expect(phrases.firstMatch(in: text) == nil, "`\(text)` should not raise free_text_risk")
    }

    @Test("A match is an urgent free_text_risk flag naming the phrase, not the text")
    func flag() throws {
        let flag = try #require(FlagRules.freeTextRisk("I can't do this any more", phrases: phrases, replyID: "in_1", source: "sms"))
        #expect(flag.kind == "free_text_risk" && flag.severity == "urgent")
        let evidence = try #require(try JSONSerialization.jsonObject(with: Data(flag.evidence.utf8)) as? [String: Any])
        #expect(evidence["phrase"] as? String == "can't do this any more")
        #expect(!flag.evidence.contains("I can't"), "the evidence names the phrase; the reply itself stays in the inbox")
    }
}
