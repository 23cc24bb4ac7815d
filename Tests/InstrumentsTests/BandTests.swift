import Instruments
import Testing

/// Band edges from the published cut points (references/instruments.md). Expected ids are written from the sources.
@Suite("Severity bands at every published edge")
struct BandTests {
    @Test("PHQ-9 bands: 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe (Kroenke 2001)",
          arguments: [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
                      (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"), (27, "severe")])
    func phq9(total: Int, band: String) throws {
        let score = try scorer("phq9").score(answers(summingTo: total, count: 9, maxValue: 3))
        #expect(score.total == Double(total))
        #expect(score.band == band, "PHQ-9 total \(total) should be \(band) (Kroenke 2001 cut points 5/10/15/20)")
    }

    @Test("PHQ-9 caseness is a total of 10 or more (NHS Talking Therapies)", arguments: [(9, false), (10, true)])
    func phq9Caseness(total: Int, isCase: Bool) throws {
        #expect(try scorer("phq9").score(answers(summingTo: total, count: 9, maxValue: 3)).caseness == isCase)
    }

    @Test("GAD-7 bands: 0–4 minimal, 5–9 mild, 10–14 moderate, 15–21 severe (Spitzer 2006)",
          arguments: [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"), (15, "severe"), (21, "severe")])
    func gad7(total: Int, band: String) throws {
        #expect(try scorer("gad7").score(answers(summingTo: total, count: 7, maxValue: 3)).band == band)
    }

    @Test("GAD-7 caseness is 8 or more (NHS Talking Therapies)", arguments: [(7, false), (8, true)])
    func gad7Caseness(total: Int, isCase: Bool) throws {
        #expect(try scorer("gad7").score(answers(summingTo: total, count: 7, maxValue: 3)).caseness == isCase)
    }

    @Test("PHQ-2 and GAD-2 screen positive at 3 or more (Kroenke 2003; Staples 2019)",
          arguments: ["phq2", "gad2"], [(0, "negative_screen"), (2, "negative_screen"), (3, "positive_screen"), (6, "positive_screen")])
    func twoItemScreens(id: String, edge: (Int, String)) throws {
        #expect(try scorer(id).score(answers(summingTo: edge.0, count: 2, maxValue: 3)).band == edge.1)
    }

    @Test("CORE-10 bands by clinical score: 0–5 healthy, 6–10 low level, 11–14 mild, 15–19 moderate, 20–24 moderate to severe, 25+ severe (Barkham 2013)",
          arguments: [(0.0, "healthy"), (5.0, "healthy"), (6.0, "low_level"), (10.0, "low_level"), (10.56, "low_level"), (11.0, "mild"),
                      (14.0, "mild"), (15.0, "moderate"), (19.0, "moderate"), (20.0, "moderate_to_severe"), (24.0, "moderate_to_severe"),
                      (25.0, "severe"), (40.0, "severe")])
    func core10(total: Double, band: String) throws {
        #expect(scorer("core10").band(for: total)?.id == band, "CORE-10 \(total) should be \(band); bands apply as score ≥ lower bound")
    }

    @Test("K10 bands (1–5 scoring): 10–19 likely well, 20–24 mild, 25–29 moderate, 30–50 severe (Andrews & Slade 2001)",
          arguments: [(10, "likely_well"), (19, "likely_well"), (20, "mild"), (24, "mild"), (25, "moderate"), (29, "moderate"), (30, "severe"), (50, "severe")])
    func k10(total: Int, band: String) throws {
        let score = try scorer("k10").score(answers(summingTo: total, count: 10, maxValue: 5, minValue: 1))
        #expect(score.total == Double(total))
        #expect(score.band == band)
    }

    @Test("WSAS bands: under 10 subclinical, 10–20 significant impairment, over 20 moderately severe or worse (Mundt 2002)",
          arguments: [(0, "subclinical"), (9, "subclinical"), (10, "significant_impairment"), (20, "significant_impairment"),
                      (21, "moderately_severe_or_worse"), (40, "moderately_severe_or_worse")])
    func wsas(total: Int, band: String) throws {
        #expect(try scorer("wsas").score(answers(summingTo: total, count: 5, maxValue: 8)).band == band)
    }
}
