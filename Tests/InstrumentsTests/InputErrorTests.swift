import Instruments
import Testing

@Suite("Malformed input is an error naming the item (instruments.md §14)")
struct InputErrorTests {
    @Test("A PHQ-9 answer of 4 is out of range and names item 3")
    func outOfRange() {
        #expect(throws: ScoringError.outOfRange(form: .answers, item: 3, value: 4, allowed: [0, 1, 2, 3])) {
            try scorer("phq9").score([0, 0, 4, 0, 0, 0, 0, 0, 0])
        }
    }

    @Test("K10 answer 0 is out of range under the 1–5 convention")
    func k10Zero() {
        #expect(throws: ScoringError.self) { try scorer("k10").score([0, 1, 1, 1, 1, 1, 1, 1, 1, 1]) }
        do {
            _ = try scorer("k10").score([0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        } catch {
            #expect(error.code == "out_of_range")
        }
    }

    @Test("Ten PHQ-9 answers is the wrong count, and the message says item 10 is not scored")
    func wrongCount() {
        do {
            _ = try scorer("phq9").score(Array(repeating: 0, count: 10))
            Issue.record("ten answers were accepted")
        } catch {
            #expect(error.code == "wrong_item_count")
            #expect(error.description.contains("Item 10"))
        }
    }

    @Test("CORE-OM's 34 answers passed as CORE-10 are the wrong count")
    func coreOMAsCore10() {
        #expect(throws: ScoringError.self) { try scorer("core10").score(Array(repeating: 1, count: 34)) }
    }

    @Test("Typed answers: 2.5 is non_integer at item 2; - means unanswered")
    func typedAnswers() throws {
        #expect(throws: ScoringError.nonInteger(form: .answers, item: 2, text: "2.5")) { try AnswerParsing.parseList("1,2.5,0") }
        #expect(try AnswerParsing.parseList("1,-,,3") == [1, nil, nil, 3])
    }

    @Test("JSON answers: the string \"1\" and true are non_integer; 2.0 is accepted as 2")
    func jsonAnswers() throws {
        #expect(throws: ScoringError.self) { try AnswerParsing.parse([.integer(1), .text("1")]) }
        #expect(throws: ScoringError.self) { try AnswerParsing.parse([.bool(true)]) }
        #expect(try AnswerParsing.parse([.number(2.0), .null]) == [2, nil])
    }

    @Test("An unknown instrument lists the known ones")
    func unknown() {
        do {
            _ = try shipped.scorer("phq8")
            Issue.record("phq8 was found")
        } catch {
            #expect(error.code == "unknown_instrument")
            #expect(error.description.contains("phq9"))
        }
    }

    @Test("A WSAS work item answered while marked not applicable is inconsistent input")
    func inconsistent() {
        do {
            _ = try scorer("wsas").score([3, 2, 4, 1, 0], context: ["work_not_applicable": true])
            Issue.record("inconsistent input accepted")
        } catch {
            #expect(error.code == "inconsistent_input")
        }
    }

    @Test("A bad baseline says it is the baseline")
    func baselineError() {
        do {
            _ = try scorer("phq9").score(Array(repeating: 0, count: 9), baseline: [9, 0, 0, 0, 0, 0, 0, 0, 0])
            Issue.record("bad baseline accepted")
        } catch {
            #expect(error.description.hasPrefix("baseline item 1"))
        }
    }
}
