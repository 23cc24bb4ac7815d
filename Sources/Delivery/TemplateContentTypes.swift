import Foundation
import Mustache

/// Escaping for provider request bodies: `{{value}}` is JSON-string-escaped or form-encoded, never HTML-escaped.
enum TemplateContentTypes {
    struct JSONString: MustacheContentType {
        func escapeText(_ text: String) -> String {
            // Most values (a number, a link, a key) have nothing to escape: no control byte, quote, backslash or
            // lead byte of U+2028/U+2029 (0xE2, which also starts other characters: those take the long way).
            if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0xE2 }) { return text }
            var out = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{2028}": out += "\\u2028"
                case "\u{2029}": out += "\\u2029"
                default:
                    if scalar.value < 0x20 {
                        out += String(format: "\\u%04x", scalar.value)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out
        }
    }

    struct FormEncoded: MustacheContentType {
        static let allowed: CharacterSet = {
            var set = CharacterSet.alphanumerics
            set.insert(charactersIn: "-._~")
            return set
        }()

        func escapeText(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: Self.allowed) ?? ""
        }
    }

    /// Registers JSON and FORM once per process.
    static let registered: Void = {
        MustacheContentTypes.register(JSONString(), named: "JSON")
        MustacheContentTypes.register(FormEncoded(), named: "FORM")
    }()

    /// The content type's name for Mustache: `JSON`, `FORM` or `TEXT` (plain text: no escaping).
    static func name(for contentType: String) -> String {
        if contentType.contains("json") { return "JSON" }
        if contentType.contains("x-www-form-urlencoded") { return "FORM" }
        return "TEXT"
    }

    /// The template text with the pragma for `contentType` (`application/json`, form, or plain text).
    static func prefixed(_ template: String, contentType: String) -> String {
        _ = registered
        return "{{% CONTENT_TYPE: \(name(for: contentType))}}" + template
    }

    /// How `{{value}}` is escaped in a body of `contentType`: the escaping `prefixed` names, for `FlatTemplate`.
    static func escape(for contentType: String) -> @Sendable (String) -> String {
        switch name(for: contentType) {
        case "JSON": return { JSONString().escapeText($0) }
        case "FORM": return { FormEncoded().escapeText($0) }
        default: return { $0 }
        }
    }
}
