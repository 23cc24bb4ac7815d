import Foundation
import Mustache
@testable import Review
import Scheduling
import ROMService
import ROMTesting
import Testing

/// Golden packs: the fixed history rendered through the shipped templates. The figures inside were checked by hand
/// against ReviewPackTests; `ROM_UPDATE_GOLDEN=1 swift test --filter Golden` rewrites them after a deliberate change.
@Suite("Review pack formats")
struct RenderingTests {
    static let folder = "\(Fixtures.repositoryRoot)/Tests/ReviewTests/Golden"

    func golden(_ name: String, _ text: String) throws {
        let path = "\(Self.folder)/\(name)"
        if ProcessInfo.processInfo.environment["ROM_UPDATE_GOLDEN"] == "1" {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == expected, "\(name) differs from the golden file; diff it, and rewrite with ROM_UPDATE_GOLDEN=1 only if the change is intended")
    }

    @Test("Golden Markdown, JSON and HTML packs", arguments: [ReviewFormat.md, .json, .html])
    func goldenPacks(format: ReviewFormat) throws {
        let renderer = try ReviewRenderer(configuration: try Fixtures.shippedConfiguration())
        let text = renderer.render(ReviewPack.assemble(try ReviewFixture.input()), as: format)
        try golden("review.\(format.rawValue)", text)
    }

    @Test("The HTML pack escapes what it prints, table cells included, exactly as Mustache's own HTML escaping does")
    func htmlEscaping() throws {
        let renderer = try ReviewRenderer(configuration: try Fixtures.shippedConfiguration())
        var input = try ReviewFixture.input()
        input.givenName = "Ana <script>alert(\"x\")</script> & 'co'"
        input.prompts[2].kind = "<b onclick='x'>\"k\" & é</b>"
        let html = renderer.render(ReviewPack.assemble(input), as: .html)
        #expect(!html.contains("<script>alert"))
        #expect(html.contains("Ana &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"))
        #expect(!html.contains("<b onclick"))
        #expect(html.contains("<td>&lt;b onclick=&#39;x&#39;&gt;&quot;k&quot; &amp; é&lt;/b&gt;</td>"), "a completeness cell")
        // The pack's escaping against Mustache's own, on the same values.
        let ours = try MustacheTemplate(string: "{{% CONTENT_TYPE: HTML_BYTES}}{{v}}")
        let theirs = try MustacheTemplate(string: "{{v}}")
        for value in ["", "plain", "<>&\"'", "a<b>c&d", "é<ü>ß", "😀&😀", "line\nbreak\t", "&amp; already", String(repeating: "<x>", count: 500)] {
            #expect(ours.render(["v": value]) == theirs.render(["v": value]), "\(value.prefix(20))")
        }
        // A `<` that a combining mark follows is one character to Mustache, which leaves it; byte by byte it is escaped.
        #expect(ours.render(["v": "<\u{338}"]) == "&lt;\u{338}")
    }

    @Test("Short dates written without ICU match the en_GB DateFormatter's, every 7 hours over six years, across DST, in three zones")
    func shortDates() throws {
        for zoneID in ["Europe/London", "America/New_York", "Australia/Sydney"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_GB")
            formatter.timeZone = TimeZone(identifier: zoneID)
            formatter.dateFormat = "d MMM yyyy"
            let zone = try #require(ZoneRules.cached(zoneID))
            var mismatches: [String] = []
            var at = 1_577_836_800.0 // 2020-01-01T00:00:00Z
            while at < 1_767_225_600 { // 2026-01-01
                let date = Date(timeIntervalSince1970: at)
                let expected = formatter.string(from: date)
                if ShortDate.text(date, zone: zone) != expected { mismatches.append("\(zoneID) \(date): \(ShortDate.text(date, zone: zone)) vs \(expected)") }
                at += 7 * 3_600 + 17
            }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        }
    }

    @Test("Markdown states the hand-computed figures")
    func markdownFigures() throws {
        let renderer = try ReviewRenderer(configuration: try Fixtures.shippedConfiguration())
        let text = renderer.render(ReviewPack.assemble(try ReviewFixture.input()), as: .md)
        #expect(text.contains("Since baseline: −9 (18 → 9, reliable improvement)"))
        #expect(text.contains("Since last review: −5 (14 → 9, no reliable change)"))
        #expect(text.contains("Recovery: reliable recovery"))
        #expect(text.contains("Since baseline: +6 (6 → 12, reliable deterioration)"))
        #expect(text.contains("3 due, 2 sent, 1 delivered, 2 answered, 1 missed, 0 open."))
        #expect(text.contains("Goal 1: Walk to the shop on my own — ratings 3 → 6"))
        #expect(!text.contains("&#"), "Markdown is not HTML-escaped")
    }

    @Test("FHIR R4: a Bundle that the fhir.resources library parses, with LOINC 44261-6 = 9 and 70274-6 = 12 for the latest totals, and goals in the person's words")
    func fhirValidates() throws {
        let renderer = try ReviewRenderer(configuration: try Fixtures.shippedConfiguration())
        let json = renderer.render(ReviewPack.assemble(try ReviewFixture.input()), as: .fhir)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let resources = (object["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
        #expect(resources.filter { $0["resourceType"] as? String == "QuestionnaireResponse" }.count == 7, "3 PHQ-9 + 2 GAD-7 + 2 goals responses")
        let goals = resources.first { ($0["questionnaire"] as? String)?.hasSuffix("/Questionnaire/goals") == true && $0["authored"] as? String == "2026-03-30T18:00:00Z" }
        let goalItems = try #require(goals?["item"] as? [[String: Any]])
        #expect(goalItems.first?["text"] as? String == "Walk to the shop on my own")
        #expect((goalItems.first?["answer"] as? [[String: Any]])?.first?["valueInteger"] as? Int == 6)
        let observations = resources.filter { $0["resourceType"] as? String == "Observation" }
        func value(_ loinc: String, at time: String) -> Double? {
            observations.first { observation in
                ((observation["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.contains { $0["code"] as? String == loinc } == true
                    && observation["effectiveDateTime"] as? String == time
            }.flatMap { ($0["valueQuantity"] as? [String: Any])?["value"] as? Double }
        }
        #expect(value("44261-6", at: "2026-03-30T18:00:00Z") == 9)
        #expect(value("70274-6", at: "2026-03-30T18:00:00Z") == 12)
        // Validation by a real FHIR library (scripts/test installs fhir.resources in var/pyenv).
        let python = "\(Fixtures.repositoryRoot)/var/pyenv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("var/pyenv is missing: run scripts/test, which creates it and installs fhir.resources")
            return
        }
        let file = "\(try Fixtures.temporaryDirectory())/bundle.json"
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        let outcome = try Subprocess.run(python, ["\(Fixtures.repositoryRoot)/Tests/Fixtures/validate_fhir.py", file])
        let text = outcome.stdout + outcome.stderr
        #expect(outcome.status == 0, "fhir.resources refused the bundle: \(text)")
        #expect(text.contains("valid Bundle with 12 entries"), "\(text)")
    }
}
