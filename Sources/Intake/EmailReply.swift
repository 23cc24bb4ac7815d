import Foundation

/// Reading a reply email as providers' inbound-parse webhooks deliver it: the address it was sent to names the
/// message it answers (`reply+<token>@…`), and only the new text counts — the quoted message below is dropped.
public enum EmailReply {
    /// The token of the first `reply+<token>@domain` address in a To/recipient field (several may be listed).
    public static func replyToken(in addresses: String) -> String? {
        for candidate in addresses.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " || $0 == "<" || $0 == ">" || $0 == "\"" }) {
            let lower = candidate.lowercased()
            guard lower.hasPrefix("reply+"), let at = candidate.firstIndex(of: "@") else { continue }
            let token = candidate[candidate.index(candidate.startIndex, offsetBy: 6)..<at]
            // Tokens are base64url: letters, digits, `-` and `_`.
            guard token.count >= 16, token.count <= 128, token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { continue }
            return String(token)
        }
        return nil
    }

    /// The part of a reply's new text that holds the answers: the lines with digits, when every other line is a short
    /// greeting or sign-off ("Thanks", "Best wishes, Ana" — at most four words, no wish to stop). Otherwise the whole
    /// text, so anything else is read — and quarantined — as written.
    public static func answerText(_ text: String) -> String {
        let lines: [String] = stripQuoted(text).split(separator: "\n").map { String($0).trimmingCharacters(whereIn: { $0 == "\r" || $0 == "\t" }) }.filter { !$0.isEmpty }
        let numeric = lines.filter { line in line.contains { $0.isASCIIDigit } }
        guard !numeric.isEmpty else { return lines.joined(separator: "\n") }
        let others = lines.filter { line in !line.contains { $0.isASCIIDigit } }
        let chatter = others.allSatisfy { line in
            line.split(separator: " ").count <= 4 && !SMSReply.stopHints.contains(where: { line.uppercased().contains($0) })
        }
        return (chatter ? numeric : lines).joined(separator: "\n")
    }

    /// The new text of a reply: everything above the first quote marker (`> …` lines, "On … wrote:", Outlook's
    /// "-----Original Message-----" or "From:" block, a `-- ` signature, "Sent from my …").
    public static func stripQuoted(_ text: String) -> String {
        var kept: [Substring] = []
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.hasPrefix(">") { break }
            if line == "-- " || line == "--" { break }
            if trimmed.hasPrefix("-----Original Message-----") || trimmed.hasPrefix("________________") { break }
            if trimmed.hasPrefix("Sent from my ") { break }
            if trimmed.hasPrefix("From:") && !kept.isEmpty { break }
            // "On Tue, 3 Nov 2026 at 09:00, Check-in <…> wrote:" — sometimes wrapped onto the next line.
            if trimmed.hasPrefix("On ") {
                let joined = index + 1 < lines.count ? trimmed + " " + lines[index + 1] : trimmed
                if trimmed.hasSuffix("wrote:") || joined.hasSuffix("wrote:") { break }
            }
            kept.append(line)
        }
        return kept.joined(separator: "\n").trimmingCharacters(whereIn: { $0 == "\n" || $0 == "\r" || $0 == "\t" })
    }
}

/// `multipart/form-data` fields (as SendGrid's inbound parse posts them): name → text value. Files are skipped.
public enum MultipartForm {
    /// The boundary parameter of a Content-Type header, unquoted.
    public static func boundary(fromContentType contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, String(parts[0]).trimmingCharacters(whereIn: { $0 == " " }) == "boundary" else { continue }
            let value = String(parts[1]).trimmingCharacters(whereIn: { $0 == " " || $0 == "\"" })
            return value.isEmpty || value.count > 200 ? nil : value
        }
        return nil
    }

    /// Parses the body; nil when it is not multipart with that boundary.
    public static func parse(_ body: [UInt8], boundary: String) -> [String: String]? {
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [ArraySlice<UInt8>] = []
        var start: Int?
        var found = false
        var index = 0
        while index + delimiter.count <= body.count {
            if body[index] == delimiter[0] && Array(body[index..<(index + delimiter.count)]) == delimiter {
                found = true
                if let begin = start { parts.append(body[begin..<index]) }
                index += delimiter.count
                // The closing delimiter ends with `--`.
                if index + 1 < body.count && body[index] == UInt8(ascii: "-") && body[index + 1] == UInt8(ascii: "-") { start = nil; break }
                start = index
                continue
            }
            index += 1
        }
        guard found else { return nil }
        var fields: [String: String] = [:]
        for part in parts {
            let text = String(decoding: part, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n") ?? text.range(of: "\n\n") else { continue }
            let headers = text[..<split.lowerBound].lowercased()
            guard let nameRange = headers.range(of: "name=\""), !headers.contains("filename=") else { continue }
            let afterName = headers[nameRange.upperBound...]
            guard let close = afterName.firstIndex(of: "\"") else { continue }
            // The name's case as sent: take it from the original header text at the same offsets.
            let original = text[..<split.lowerBound]
            let offset = headers.distance(from: headers.startIndex, to: nameRange.upperBound)
            let length = afterName.distance(from: afterName.startIndex, to: close)
            let nameStart = original.index(original.startIndex, offsetBy: offset)
            let name = String(original[nameStart..<original.index(nameStart, offsetBy: length)])
            var value = text[split.upperBound...]
            // "\r\n" is one Character in Swift, so one drop removes the line break before the next delimiter.
            if value.hasSuffix("\r\n") || value.hasSuffix("\n") { value = value.dropLast() }
            fields[name] = String(value)
        }
        return fields
    }
}
