import Intake
import PropertyBased
import Testing

@Suite("SMS replies as people type them")
struct SMSReplyTests {
    @Test("Opt-out keywords are exact single words, any case, trimmed", arguments: ["STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "STOP\n", "stop."])
    func optOut(text: String) {
        #expect(SMSReply.parse(text) == .optOut)
    }

    @Test("START, UNSTOP and YES opt back in; HELP and INFO ask for help", arguments: [("START", SMSReply.optIn), ("unstop", .optIn), ("Yes", .optIn), ("HELP", .help), ("info", .help)])
    func optInAndHelp(text: String, expected: SMSReply) {
        #expect(SMSReply.parse(text) == expected)
    }

    @Test("Free-text opt-outs are not keywords: a person must act on them", arguments: ["Stop please", "please stop texting me", "Don't text me again", "STOP IT"])
    func freeText(text: String) {
        #expect(SMSReply.parse(text) == .freeTextOptOut)
    }

    @Test("Answers with a code, commas, spaces, punctuation and line breaks", arguments: [
        ("P7 1 2 0 3 1 0 2 1 0", SMSReply.answers(code: "P7", values: [1, 2, 0, 3, 1, 0, 2, 1, 0], compact: false)),
        ("1,2,0,3,1,0,2,1,0", .answers(code: nil, values: [1, 2, 0, 3, 1, 0, 2, 1, 0], compact: false)),
        ("  1, 2 ,0;3\n1 0-2 1/0 ", .answers(code: nil, values: [1, 2, 0, 3, 1, 0, 2, 1, 0], compact: false)),
        ("120310210", .answers(code: nil, values: [1, 2, 0, 3, 1, 0, 2, 1, 0], compact: true)),
        ("p12: 120310210", .answers(code: "P12", values: [1, 2, 0, 3, 1, 0, 2, 1, 0], compact: true)),
        ("7", .answers(code: nil, values: [7], compact: false)),
        ("10 8 9", .answers(code: nil, values: [10, 8, 9], compact: false)),
    ])
    func answers(text: String, expected: SMSReply) {
        #expect(SMSReply.parse(text) == expected)
    }

    @Test("Unreadable replies say why", arguments: ["", "   ", "feeling ok thanks", "P7", "1 2 three", "1 2 1234"])
    func unreadable(text: String) {
        guard case .unreadable(let reason) = SMSReply.parse(text) else {
            Issue.record("`\(text)` was read as \(SMSReply.parse(text))")
            return
        }
        #expect(!reason.isEmpty)
    }

    @Test("Any answers joined by any separator read back as the same numbers")
    func roundTrip() async {
        let separators = [" ", ",", ", ", "\n", ";", " - ", "  "]
        await propertyCheck(count: 300, input: Gen.int(in: 0...3).array(of: 2...12), Gen.int(in: 0...6)) { values, which in
            let text = values.map(String.init).joined(separator: separators[which])
            #expect(SMSReply.parse(text) == .answers(code: nil, values: values, compact: false))
            #expect(SMSReply.parse("Q4 " + text) == .answers(code: "Q4", values: values, compact: false))
        }
    }
}

@Suite("SMS replies: fuzzing finds")
struct SMSReplyFuzzFinds {
    @Test("Only the digits 0-9 are answers: a digit with a combining mark or another script's digit is refused, never dropped (which would shift later answers)",
          arguments: ["1\u{485}23", "0\u{485}0\u{485}", "\u{661}\u{662}\u{663}", "1 \u{BD} 2"])
    func nonASCIIDigits(text: String) {
        guard case .unreadable(let reason) = SMSReply.parse(text) else {
            Issue.record("\(text.unicodeScalars.map { String($0.value, radix: 16) }) was read as \(SMSReply.parse(text))")
            return
        }
        #expect(reason.contains("use the digits 0 to 9"))
    }
}
