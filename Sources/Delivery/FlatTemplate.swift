/// A Mustache template that is only text and plain `{{name}}` variables — a provider's request body, an SMS — rendered
/// by joining its parts: what `MustacheTemplate.render` gives for such a template, at a fraction of its cost (rendering
/// each webhook body through swift-mustache was 7 % of a dispatch pass in a `perf` profile).
///
/// Anything else Mustache means (sections, inverted sections, partials, comments, triple braces, `&`, dotted names,
/// delimiter changes, pragmas) makes `init` return nil, and the caller renders with swift-mustache as before: this is
/// a shortcut for the common shape, not a second template language. The tests render random flat templates both ways.
struct FlatTemplate: Sendable {
    enum Part: Sendable, Equatable {
        case text(String)
        case value(String)
    }

    let parts: [Part]

    /// The parts of `source`, or nil when it uses more of Mustache than text and `{{name}}`.
    init?(_ source: String) {
        let bytes = Array(source.utf8)
        // The content-type pragma put before the template is a standalone tag when the first line is otherwise blank:
        // Mustache then drops that line's spaces and break. Left to it.
        let lead = bytes.prefix { $0 == 0x20 || $0 == 0x09 }.count
        if lead == bytes.count || bytes[lead] == 0x0A || bytes[lead] == 0x0D { return nil }
        // swift-mustache drops a last line of spaces and tabs after a break: left to it too.
        let tail = bytes.reversed().prefix { $0 == 0x20 || $0 == 0x09 }.count
        if tail > 0, tail < bytes.count, bytes[bytes.count - tail - 1] == 0x0A { return nil }
        var parts: [Part] = []
        var start = 0
        var index = 0
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        while index + 1 < bytes.count {
            guard bytes[index] == UInt8(ascii: "{"), bytes[index + 1] == UInt8(ascii: "{") else {
                index += 1
                continue
            }
            if index > start { parts.append(.text(text(start..<index))) }
            var close = index + 2
            while close + 1 < bytes.count, !(bytes[close] == UInt8(ascii: "}") && bytes[close + 1] == UInt8(ascii: "}")) { close += 1 }
            guard close + 1 < bytes.count else { return nil }
            var nameStart = index + 2
            var nameEnd = close
            while nameStart < nameEnd, Self.isSpace(bytes[nameStart]) { nameStart += 1 }
            while nameEnd > nameStart, Self.isSpace(bytes[nameEnd - 1]) { nameEnd -= 1 }
            guard nameStart < nameEnd, bytes[nameStart..<nameEnd].allSatisfy(Self.isNameByte) else { return nil }
            parts.append(.value(text(nameStart..<nameEnd)))
            index = close + 2
            start = index
        }
        if start < bytes.count { parts.append(.text(text(start..<bytes.count))) }
        self.parts = parts
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    /// Letters, digits and `_`: a sigil (`#^/!>&{=%`), a dot or anything else sends the template to swift-mustache.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
    }

    /// The template with each variable's value, escaped by `escape`; a name without a value is empty, as in Mustache.
    func render(_ values: [String: String], escape: (String) -> String) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .value(let name): if let value = values[name] { out += escape(value) }
            }
        }
        return out
    }
}
