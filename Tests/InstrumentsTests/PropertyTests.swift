import Instruments
import PropertyBased
import Testing

@Suite("Properties of the scorer")
struct PropertyTests {
    @Test("PHQ-9 totals stay within 0–27 for any answers with at most two missing, and missing more is never valid")
    func phq9Range() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...3).optional(valueRate: 0.85).array(of: 9)) { answers in
            let score = try scorer("phq9").score(answers)
            let missing = answers.filter { $0 == nil }.count
            if missing <= 2 {
                let total = try #require(score.total)
                #expect((0...27).contains(total))
                #expect(total == total.rounded(), "PHQ-9 totals are whole numbers after half-up proration")
            } else {
                #expect(!score.valid)
            }
        }
    }

    @Test("CORE-10 reversal applied twice gives back the answer, and complete forms total between 0 and 40")
    func core10Reversal() async {
        await propertyCheck(count: 300, input: Gen.int(in: 0...4).array(of: 10)) { answers in
            let score = try scorer("core10").score(answers.map { $0 })
            let total = try #require(score.total)
            #expect((0...40).contains(total))
            let reverse = { (value: Int) in 4 - value }
            var twice = answers
            twice[1] = reverse(reverse(answers[1]))
            twice[2] = reverse(reverse(answers[2]))
            #expect(twice == answers)
            // Mirroring items 2 and 3 in the input changes only their contribution: the two totals add up to
            // twice the other items plus 8 (each reversed item contributes v and 4 − v).
            var mirrored = answers
            mirrored[1] = reverse(answers[1])
            mirrored[2] = reverse(answers[2])
            let other = try #require(try scorer("core10").score(mirrored.map { $0 }).total)
            let rest = answers.reduce(0, +) - answers[1] - answers[2]
            #expect(total + other == Double(2 * rest + 8))
        }
    }

    @Test("Band lookup is monotone: a higher total never falls in an earlier band")
    func bandsMonotone() async {
        for id in ["phq9", "gad7", "core10", "k10", "wsas"] {
            let scorer = scorer(id)
            let order = scorer.definition.bands.map(\.id)
            await propertyCheck(count: 200, input: Gen.double(in: 0...50), Gen.double(in: 0...50)) { a, b in
                let (low, high) = (min(a, b), max(a, b))
                let lowIndex = scorer.band(for: low).flatMap { order.firstIndex(of: $0.id) } ?? -1
                let highIndex = scorer.band(for: high).flatMap { order.firstIndex(of: $0.id) } ?? -1
                #expect(lowIndex <= highIndex, "\(id): \(low) in band \(lowIndex) but \(high) in band \(highIndex)")
            }
        }
    }

    @Test("Every shipped definition loads, validates and scores a complete form at its lowest options")
    func shippedDefinitions() throws {
        #expect(shipped.ids == ["core10", "dialog", "gad2", "gad7", "goals", "k10", "phq2", "phq9", "swemwbs", "wsas"])
        for definition in shipped.definitions {
            #expect(definition.validate().isEmpty, "\(definition.id): \(definition.validate())")
            let count = definition.itemCount?.max ?? definition.items.count
            let lowest = (1...count).map { definition.options(forItem: $0).first?.value }
            #expect(try scorer(definition.id).score(lowest).valid, "\(definition.id) should score a complete form")
            if !definition.licence.itemTextShipped {
                #expect(definition.items.allSatisfy { $0.text == nil }, "\(definition.id) must not ship item text")
            }
        }
    }
}
