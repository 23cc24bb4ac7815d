import Delivery
import Foundation
import Testing

/// The email message builder, checked against Foundation's own formatter and base64 decoder (independent code).
@Suite("MIME message")
struct MIMETests {
    func message(text: String, html: String? = nil, subject: String = "Your check-in", date: Date = Date(timeIntervalSince1970: 0)) -> String {
        let mime = MIMEMessage(from: "Check-in <checkin@example.org>", to: "ana@example.org\r\nBcc: x@example.org", replyTo: nil, subject: subject,
                               text: text, html: html, messageID: "pr_1@example.org", date: date, unsubscribeURL: "https://x/u/1")
        return String(decoding: mime.rendered(), as: UTF8.self)
    }

    @Test("Dates are RFC 5322 in UTC and agree with DateFormatter for 2,000 instants from 1901 to 2199")
    func dates() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        var generator = SystemRandomNumberGenerator()
        var instants = [0, -1, 951_782_400, 951_868_799, 4_107_542_399, 1_795_510_800].map(Double.init) // epoch, leap days 2000, 2100 eve
        for _ in 0..<2_000 { instants.append(Double(Int64.random(in: -2_145_916_800...7_258_118_400, using: &generator))) }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(MIMEMessage.rfc5322Date(date) == formatter.string(from: date), "\(instant)")
        }
        #expect(MIMEMessage.rfc5322Date(Date(timeIntervalSince1970: 1_795_510_800)) == "Tue, 24 Nov 2026 09:00:00 +0000")
    }

    @Test("Bodies are base64 in lines of at most 76, decode to the text with every line break as CRLF, and headers cannot be injected")
    func bodies() throws {
        let text = "Hi Zoë,\nyour check-in is ready:\r\nhttps://x/c/abc\rline four " + String(repeating: "€ab", count: 60)
        let rendered = message(text: text)
        #expect(!rendered.contains("\r\nBcc:"), "a line break in an address header is flattened")
        #expect(rendered.contains("To: ana@example.org  Bcc: x@example.org"))
        let body = try #require(rendered.components(separatedBy: "Content-Transfer-Encoding: base64\r\n\r\n").last)
        let lines = body.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.dropLast().allSatisfy { $0.count == 76 } && lines.last!.count <= 76)
        let decoded = try #require(Data(base64Encoded: lines.joined()))
        let expected = "Hi Zoë,\r\nyour check-in is ready:\r\nhttps://x/c/abc\r\nline four " + String(repeating: "€ab", count: 60)
        #expect(String(decoding: decoded, as: UTF8.self) == expected)
        for length in 0..<7 {
            let short = String(repeating: "x", count: length)
            let encoded = try #require(message(text: short).components(separatedBy: "base64\r\n\r\n").last?.replacingOccurrences(of: "\r\n", with: ""))
            #expect(encoded == Data(short.utf8).base64EncodedString(), "length \(length)")
        }
    }

    @Test("A non-ASCII subject becomes an RFC 2047 encoded word; an ASCII one stays as written")
    func subjects() {
        #expect(message(text: "x", subject: "Your check-in").contains("\r\nSubject: Your check-in\r\n"))
        #expect(message(text: "x", subject: "Zoë").contains("\r\nSubject: =?utf-8?B?\(Data("Zoë".utf8).base64EncodedString())?=\r\n"))
    }
}
