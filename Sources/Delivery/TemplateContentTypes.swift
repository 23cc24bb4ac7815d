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

    /// How a request body's values are escaped, by its content type; the raw value names the Mustache content type.
    enum Kind: String {
        case json = "JSON", form = "FORM", text = "TEXT"

        init(contentType: String) {
            if contentType.contains("json") { self = .json } else if contentType.contains("x-www-form-urlencoded") { self = .form } else { self = .text }
        }

        /// What `{{value}}` becomes, for `FlatTemplate`: the escaping the Mustache content type of the same name does.
        var escape: @Sendable (String) -> String {
            switch self {
            case .json: return { JSONString().escapeText($0) }
            case .form: return { FormEncoded().escapeText($0) }
            case .text: return { $0 }
            }
        }
    }

    /// The template text with the pragma for `contentType` (`application/json`, form, or plain text).
    static func prefixed(_ template: String, contentType: String) -> String {
        _ = registered
        return "{{% CONTENT_TYPE: \(Kind(contentType: contentType).rawValue)}}" + template
    }
}
