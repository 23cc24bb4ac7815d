@testable import Delivery
import Foundation
import Mustache
import ROMService
import ROMTesting
import Testing

/// `FlatTemplate` against swift-mustache itself: for templates of text and `{{name}}` the two give the same text, and
/// anything else is left to swift-mustache.
@Suite("Flat templates")
struct FlatTemplateTests {
    static let pieces = ["Hi ", "{", "}", "}}", "{ {", "{}", "\"", "\\", "\n", "\r\n", "\t", "é", "😀", "a\u{301}", " ", ",", "x", ":", "&", "<b>", "'",
                         "{{to}}", "{{ text }}", "{{link}}", "{{idempotency_key}}", "{{missing}}", "{{\tto\n}}", "{{#to}}", "{{/to}}", "{{{text}}}",
                         "{{! note }}", "{{a.b}}", "{{&link}}"]
    static let values = ["", "plain", "Ana \"quoted\" \\ back", "line\nbreak\ttab\r", "ünïcødé 😀 a\u{301}", "a&b=c d+e%", "<script>'x'</script>",
                         "\u{2028}\u{1}", "{{to}}"]

    @Test("4,000 random templates of text and variables render as swift-mustache renders them, as JSON, form and plain text")
    func sameAsMustache() {
        var random = SplitMix(seed: 16)
        var flatOnes = 0
        for _ in 0..<4_000 {
            let source = (0..<Int.random(in: 0...8, using: &random)).map { _ in Self.pieces.randomElement(using: &random)! }.joined()
            guard let flat = FlatTemplate(source) else { continue }
            flatOnes += 1
            let values = ["to", "text", "link", "idempotency_key"].reduce(into: [String: String]()) { $0[$1] = Self.values.randomElement(using: &random)! }
            for contentType in ["application/json", "application/x-www-form-urlencoded", "text/plain"] {
                // A template swift-mustache cannot read fails the gateway's configuration before any body is rendered.
                guard let template = try? MustacheTemplate(string: TemplateContentTypes.prefixed(source, contentType: contentType)) else { continue }
                let mustache = template.render(values)
                let ours = flat.render(values, escape: TemplateContentTypes.Kind(contentType: contentType).escape)
                #expect(ours == mustache, "template \(source.debugDescription) as \(contentType): \(ours.debugDescription) vs \(mustache.debugDescription)")
            }
        }
        #expect(flatOnes > 1_000, "most random templates are flat: \(flatOnes)")
    }

    @Test("A JSON body carries every value back exactly through an independent JSON parser: quotes, backslashes, controls, U+2028, other E2-led characters")
    func jsonValuesRoundTrip() throws {
        let flat = try #require(FlatTemplate(#"{"text": "{{text}}"}"#))
        let escape = TemplateContentTypes.Kind.json.escape
        let controls = String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init)))
        for value in Self.values + [controls, "dash — euro € ellipsis …", "\u{2029}end", "+447700900001", "https://example.org/c/abc?x=1&y=2"] {
            let body = flat.render(["text": value], escape: escape)
            let parsed = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String]
            #expect(parsed?["text"] == value, "\(value.debugDescription) as \(body.debugDescription)")
        }
    }

    @Test("Sections, inverted sections, comments, partials, triple braces, &, dotted names, delimiter changes and unclosed tags are left to swift-mustache")
    func refusesTheRest() {
        for source in ["{{#a}}x{{/a}}", "{{^a}}x{{/a}}", "{{! note }}", "{{> part}}", "{{{a}}}", "{{&a}}", "{{a.b}}", "{{=<% %>=}}", "x {{a", "{{}}",
                       "{{ }}", "{{% CONTENT_TYPE: JSON}}{{a}}", "{{{{a}}"] {
            #expect(FlatTemplate(source) == nil, "\(source)")
        }
        #expect(FlatTemplate("Hi {{ given_name }}, {{link}}}")?.parts == [.text("Hi "), .value("given_name"), .text(", "), .value("link"), .text("}")])
        // A blank first line is the pragma's standalone line to Mustache: left to it.
        for source in ["", "  ", "\nHi {{to}}", " \t\r\nHi", "Hi {{to}}\n\t "] { #expect(FlatTemplate(source) == nil, "\(source.debugDescription)") }
    }

    @Test("The shipped SMS templates and the benchmark's webhook body take the flat path")
    func shippedTemplatesAreFlat() throws {
        let folder = try Fixtures.copyOfConfig()
        for name in ["sms", "sms_reply", "email_subject"] {
            let text = try String(contentsOfFile: "\(folder)/templates/\(name).mustache", encoding: .utf8)
            #expect(FlatTemplate(text) != nil, "\(name)")
        }
        #expect(FlatTemplate(#"{"to": "{{to}}", "text": "{{text}}", "reference": "{{idempotency_key}}"}"#) != nil)
    }
}
