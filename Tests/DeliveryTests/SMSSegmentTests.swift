import Delivery
import PropertyBased
import Testing

/// SMS part counting (references/reliability.md §2.5, R25): GSM-7 160 septets in one part, 153 per part after;
/// UCS-2 70 units in one part, 67 per part after; extension characters cost two septets.
@Suite("SMS segments")
struct SMSSegmentTests {
    struct Case: Sendable, CustomStringConvertible {
        var text: String
        var encoding: SMSSegments.Encoding
        var units: Int
        var segments: Int
        var description: String { "\(text.prefix(12))… (\(text.unicodeScalars.count) scalars)" }
    }

    static let cases: [Case] = [
        Case(text: String(repeating: "a", count: 160), encoding: .gsm7, units: 160, segments: 1),
        Case(text: String(repeating: "a", count: 161), encoding: .gsm7, units: 161, segments: 2),
        Case(text: String(repeating: "a", count: 306), encoding: .gsm7, units: 306, segments: 2),
        Case(text: String(repeating: "a", count: 307), encoding: .gsm7, units: 307, segments: 3),
        Case(text: String(repeating: "Ж", count: 70), encoding: .ucs2, units: 70, segments: 1),
        Case(text: String(repeating: "Ж", count: 71), encoding: .ucs2, units: 71, segments: 2),
        Case(text: String(repeating: "Ж", count: 134), encoding: .ucs2, units: 134, segments: 2),
        Case(text: String(repeating: "Ж", count: 135), encoding: .ucs2, units: 135, segments: 3),
        // € and ^ are extension characters: two septets each.
        Case(text: String(repeating: "a", count: 158) + "€", encoding: .gsm7, units: 160, segments: 1),
        Case(text: String(repeating: "a", count: 159) + "^", encoding: .gsm7, units: 161, segments: 2),
        // One emoji makes the whole text UCS-2, and it is two UTF-16 units.
        Case(text: String(repeating: "a", count: 68) + "🙂", encoding: .ucs2, units: 70, segments: 1),
        Case(text: String(repeating: "a", count: 69) + "🙂", encoding: .ucs2, units: 71, segments: 2),
        // CRLF is two GSM-7 characters, not one non-GSM grapheme.
        Case(text: String(repeating: "a", count: 158) + "\r\n", encoding: .gsm7, units: 160, segments: 1),
        Case(text: String(repeating: "a", count: 159) + "\r\n", encoding: .gsm7, units: 161, segments: 2),
        Case(text: "", encoding: .gsm7, units: 0, segments: 0),
    ]

    @Test("Boundaries: 160/161 GSM-7, 70/71 UCS-2, € and ^ count two, an emoji makes it UCS-2, CRLF is two septets", arguments: cases)
    func boundary(_ item: Case) {
        let counted = SMSSegments.count(item.text)
        #expect(counted.encoding == item.encoding)
        #expect(counted.units == item.units)
        #expect(counted.segments == item.segments)
    }

    @Test("Property: GSM-7 text of n plain characters needs 1 part up to 160, else ⌈n/153⌉")
    func gsmProperty() async {
        await propertyCheck(input: Gen.int(in: 1...1_000)) { n in
            let counted = SMSSegments.count(String(repeating: "x", count: n))
            #expect(counted.encoding == .gsm7)
            #expect(counted.segments == (n <= 160 ? 1 : (n + 152) / 153))
        }
    }

    @Test("Property: adding one non-GSM character switches to UCS-2 with 1 part up to 70 units, else ⌈units/67⌉")
    func ucsProperty() async {
        await propertyCheck(input: Gen.int(in: 0...600)) { n in
            let counted = SMSSegments.count(String(repeating: "x", count: n) + "ő")
            #expect(counted.encoding == .ucs2)
            #expect(counted.units == n + 1)
            #expect(counted.segments == (n + 1 <= 70 ? 1 : (n + 1 + 66) / 67))
        }
    }
}

/// What a failed send leaves in logs and `last_error`: codes, never the server's text (it often repeats the address).
@Suite("Send failure reasons")
struct SendFailureReasonTests {
    @Test("An SMTP refusal becomes its reply code; the recipient's address in curl's message goes nowhere")
    func smtpRefusal() {
        let error = CurlError(code: 55, message: "RCPT failed: 550 5.1.1 <ana@example.org>: Recipient address rejected: User unknown")
        #expect(error.smtpReplyCode == 550)
        #expect(error.reasonCode == "smtp_550 (curl 55)")
        #expect(!error.reasonCode.contains("@"))
    }

    @Test("Timeouts and network failures are codes too")
    func network() {
        #expect(CurlError(code: 28, message: "Operation timed out after 5000 milliseconds with 0 bytes received").reasonCode == "timeout")
        #expect(CurlError(code: 7, message: "Failed to connect to sms.example.org port 443: Connection refused").reasonCode == "network: curl 7")
        #expect(CurlError(code: 56, message: "Recv failure: Connection reset by peer").smtpReplyCode == nil)
    }
}
