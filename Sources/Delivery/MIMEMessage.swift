import Crypto
public import Foundation

/// An RFC 5322 message with a text part and an HTML alternative, CRLF line endings.
public struct MIMEMessage: Sendable {
    public var from: String
    public var to: String
    public var replyTo: String?
    public var subject: String
    public var text: String
    public var html: String?
    /// Stable per prompt: the same on every retry, so a duplicate is recognisable.
    public var messageID: String
    public var date: Date
    /// HTTPS one-click unsubscribe (RFC 8058).
    public var unsubscribeURL: String?

    public init(from: String, to: String, replyTo: String?, subject: String, text: String, html: String?, messageID: String, date: Date,
                unsubscribeURL: String?) {
        self.from = from
        self.to = to
        self.replyTo = replyTo
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
        self.unsubscribeURL = unsubscribeURL
    }

    /// `Tue, 24 Nov 2026 09:00:00 +0000`.
    public static func rfc5322Date(_ date: Date) -> String {
        TextBytes.rfc5322Date(date)
    }

    /// The bare address in `Name <address>` or `address`.
    public static func address(_ field: String) -> String {
        if let open = field.lastIndex(of: "<"), let close = field.lastIndex(of: ">"), open < close {
            return String(field[field.index(after: open)..<close])
        }
        return TextBytes.trimmed(field)
    }

    /// The whole message as bytes.
    public func rendered() -> [UInt8] {
        var lines = [
            "Date: \(Self.rfc5322Date(date))",
            "From: \(Self.header(from))",
            "To: \(Self.header(to))",
            "Message-ID: <\(messageID)>",
            "Subject: \(Self.encodedWord(subject))",
            "MIME-Version: 1.0",
        ]
        if let replyTo { lines.append("Reply-To: \(Self.header(replyTo))") }
        if let unsubscribeURL {
            lines.append("List-Unsubscribe: <\(unsubscribeURL)>")
            lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        }
        let textPart = Self.base64Body(text)
        if let html {
            let digest = Hex.encode(SHA256.hash(data: Data(messageID.utf8)).prefix(12))
            let boundary = "rom-\(digest)-alt"
            lines += [
                "Content-Type: multipart/alternative; boundary=\"\(boundary)\"", "",
                "--\(boundary)", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "", textPart,
                "--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", "", Self.base64Body(html),
                "--\(boundary)--", "",
            ]
        } else {
            lines += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "", textPart, ""]
        }
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    /// Header text with any line break removed (no header injection).
    static func header(_ value: String) -> String {
        TextBytes.singleLine(value)
    }

    /// RFC 2047 encoded-word when the subject is not plain ASCII.
    static func encodedWord(_ text: String) -> String {
        let clean = header(text)
        if clean.utf8.allSatisfy({ $0 < 128 }) { return clean }
        return "=?utf-8?B?\(Data(clean.utf8).base64EncodedString())?="
    }

    /// The body in base64 lines of 76, every line break CRLF first.
    static func base64Body(_ text: String) -> String {
        TextBytes.base64Lines(TextBytes.crlfLines(text))
    }
}
