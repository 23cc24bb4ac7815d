import Foundation
import Instruments
import Review
import ROMTesting
import Testing

/// Flags as a clinician reads them, worded from the shipped instrument definitions.
@Suite("Flag descriptions")
struct FlagDescriptionTests {
    @Test("A PHQ-9 item-9 answer: the item's text (the licence allows it), the answer and its label — not PHQ9_ITEM9_POSITIVE")
    func riskItem() throws {
        let flag = FlagDescription.describe(kind: "PHQ9_ITEM9_POSITIVE", evidence: #"{"instrument":"phq9","item":9,"value":2,"total":13}"#, catalog: try Fixtures.catalog())
        #expect(flag.title == "PHQ-9 item 9 answered More than half the days")
        #expect(flag.evidence == ["PHQ-9 item 9: “Thoughts that you would be better off dead or of hurting yourself in some way”", "Answer: 2 (More than half the days)"])
        let unanswered = FlagDescription.describe(kind: "PHQ9_ITEM9_UNANSWERED", evidence: #"{"instrument":"phq9","item":9,"value":null}"#, catalog: try Fixtures.catalog())
        #expect(unanswered.title == "PHQ-9 item 9 was left unanswered")
    }

    @Test("Reliable deterioration names the measure, both scores with their bands, the rise and the rule with its source; the severe band names where it starts")
    func scoreFlags() throws {
        let catalog = try Fixtures.catalog()
        // PHQ-9 bands (Kroenke 2001): 5 mild, 10 moderate, 15 moderately severe, 20 severe; reliable change 6 points.
        let worse = FlagDescription.describe(kind: "reliable_deterioration", evidence: #"{"instrument":"phq9","total":19,"baseline_total":9}"#, catalog: catalog)
        #expect(worse.title == "PHQ-9: reliable deterioration since baseline")
        #expect(worse.evidence.prefix(2) == ["Now 19 (Moderately severe)", "Baseline 9 (Mild): a rise of 10"])
        #expect(worse.evidence.last?.hasPrefix("Rule: a change of 6 or more is reliable (") == true)
        let severe = FlagDescription.describe(kind: "severe_band", evidence: #"{"instrument":"phq9","total":22,"band":"severe"}"#, catalog: catalog)
        #expect(severe.title == "PHQ-9 in the severe band" && severe.evidence == ["Score 22", "The severe band starts at 20"])
    }

    @Test("Where the licence forbids shipping item text, the item is named by number only")
    func licensedText() throws {
        let catalog = try Fixtures.catalog()
        let definition = try #require(catalog.definition("wsas"))
        #expect(!definition.licence.itemTextShipped)
        let flag = FlagDescription.describe(kind: "X", evidence: #"{"instrument":"wsas","item":1,"value":3}"#, catalog: catalog)
        #expect(flag.evidence.first == "\(definition.title) item 1")
    }

    @Test("Free-text risk and missed check-ins read as sentences")
    func otherKinds() throws {
        let catalog = try Fixtures.catalog()
        #expect(FlagDescription.describe(kind: "free_text_risk", evidence: #"{"phrase":"end it all","reply":"r1"}"#, catalog: catalog).evidence
            == ["Matched “end it all” (from intake.risk_phrases); read the whole reply in the inbox"])
        #expect(FlagDescription.describe(kind: "recovery_gains_at_risk", evidence: #"{"missed_in_a_row":2,"review":"c:2026-11-30"}"#, catalog: catalog).evidence
            == ["2 check-ins in a row closed unanswered"])
    }
}
