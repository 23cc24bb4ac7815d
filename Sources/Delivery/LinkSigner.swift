import Crypto
import Foundation

/// Check-in and unsubscribe links: the token is HMAC-SHA256(secret, purpose|key), so the same prompt gets the same
/// link on every retry without the token ever being stored; only its SHA-256 is kept to look it up.
public struct LinkSigner: Sendable {
    private let secret: [UInt8]
    public let publicURL: String

    public init(secret: String, publicURL: String) {
        self.secret = Array(secret.utf8)
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
    }

    /// A 256-bit URL-safe token for `purpose` and `key`.
    public func token(_ purpose: String, _ key: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(purpose)|\(key)".utf8), using: SymmetricKey(data: secret))
        // base64url without padding, mapped byte by byte (three `replacingOccurrences` per token showed in profiles).
        let encoded = Data(mac).base64EncodedString().utf8.compactMap { byte -> UInt8? in
            switch byte {
            case UInt8(ascii: "+"): return UInt8(ascii: "-")
            case UInt8(ascii: "/"): return UInt8(ascii: "_")
            case UInt8(ascii: "="): return nil
            default: return byte
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// Lower-case hex SHA-256 of a token: the only form stored.
    public static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)))
    }

    /// The check-in link for a message's idempotency key.
    public func checkin(key: String) -> (url: String, token: String) {
        let token = token("checkin", key)
        return ("\(publicURL)/c/\(token)", token)
    }

    /// The reply token of an email message: its hash is stored with purpose `reply`, so it addresses a reply and
    /// cannot open the check-in form.
    public func reply(key: String) -> String {
        token("reply", key)
    }

    /// The one-click unsubscribe link for a person's email.
    public func unsubscribe(personID: String, channel: String) -> (url: String, token: String) {
        let token = token("unsubscribe", "\(personID)|\(channel)")
        return ("\(publicURL)/unsubscribe/\(token)", token)
    }
}
