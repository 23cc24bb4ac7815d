import Foundation
import Scheduling

/// Text helpers for the send path, on bytes and scalars. Foundation's `replacingOccurrences`, `trimmingCharacters`
/// and `DateFormatter` bridge through NSString and ICU on Linux, and a dispatch profile showed them taking over a
/// quarter of the CPU spent per email.
enum TextBytes {
    /// `text` without leading and trailing white space and line breaks (Unicode White_Space).
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        if first == scalars.startIndex && scalars.index(after: last) == scalars.endIndex { return text }
        return String(scalars[first...last])
    }

    /// `text` with every CR and LF turned into a space: a header value cannot start a new header.
    static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 13 || $0 == 10 }) else { return text }
        return String(decoding: text.utf8.map { $0 == 13 || $0 == 10 ? 32 : $0 }, as: UTF8.self)
    }

    /// UTF-8 of `text` with every line break (CRLF, a lone LF or a lone CR) written as CRLF.
    static func crlfLines(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        var previousCR = false
        for byte in text.utf8 {
            if byte == 10 {
                if !previousCR { out += [13, 10] } // after a CR, that CR already wrote the CRLF
                previousCR = false
            } else if byte == 13 {
                out += [13, 10]
                previousCR = true
            } else {
                out.append(byte)
                previousCR = false
            }
        }
        return out
    }

    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Base64 (RFC 2045) in lines of 76 characters joined by CRLF, no CRLF after the last line.
    static func base64Lines(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 4 / 3 + bytes.count / 38 + 8)
        var lineLength = 0
        func emit(_ character: UInt8) {
            if lineLength == 76 {
                out += [13, 10]
                lineLength = 0
            }
            out.append(character)
            lineLength += 1
        }
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            emit(base64Alphabet[Int(value >> 18 & 63)])
            emit(base64Alphabet[Int(value >> 12 & 63)])
            emit(base64Alphabet[Int(value >> 6 & 63)])
            emit(base64Alphabet[Int(value & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            emit(base64Alphabet[Int(value >> 18 & 63)])
            emit(base64Alphabet[Int(value >> 12 & 63)])
            emit(rest == 2 ? base64Alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            emit(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"] // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Tue, 24 Nov 2026 09:00:00 +0000`: the RFC 5322 date in UTC, from the proleptic Gregorian calendar.
    static func rfc5322Date(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let dayNumber = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - dayNumber * 86_400
        let day = LocalDate(dayNumber: dayNumber)
        let weekday = ((dayNumber % 7) + 7) % 7
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[weekday]), \(two(day.day)) \(months[day.month - 1]) \(day.year) \(two(secondOfDay / 3_600)):\(two(secondOfDay % 3_600 / 60)):\(two(secondOfDay % 60)) +0000"
    }
}
