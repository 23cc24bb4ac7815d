import Foundation
import Mustache

/// Escaping for provider request bodies: `{{value}}` is JSON-string-escaped or form-encoded, never HTML-escaped.
enum TemplateContentTypes {
    struct JSONString: MustacheContentType {
        func escapeText(_ text: String) -> String {
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

    /// The template text with the pragma for `contentType` (`application/json`, form, or plain text).
    static func prefixed(_ template: String, contentType: String) -> String {
        _ = registered
        let type: String
        if contentType.contains("json") { type = "JSON" } else if contentType.contains("x-www-form-urlencoded") { type = "FORM" } else { type = "TEXT" }
        return "{{% CONTENT_TYPE: \(type)}}" + template
    }
}
