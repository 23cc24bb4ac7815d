public import Crypto
import Foundation

/// Standard Webhooks v1 signatures (HMAC-SHA256 over `{id}.{timestamp}.{body}`, `whsec_` base64 secrets).
///
/// Outbound calls carry one `v1,…` signature per configured secret, so a provider can rotate keys
/// with no downtime; inbound verification accepts any one matching secret within ±300 s.
public enum StandardWebhooks {
    public enum VerificationError: Error, Sendable, Equatable, CustomStringConvertible {
        case missingHeader(String)
        case invalidHeader(String)
        case timestampTooOld
        case futureTimestamp
        case invalidSignature

        public var description: String {
            switch self {
            case .missingHeader(let name): return "missing \(name) header"
            case .invalidHeader(let name): return "malformed \(name) header"
            case .timestampTooOld: return "webhook-timestamp is more than 5 minutes old"
            case .futureTimestamp: return "webhook-timestamp is more than 5 minutes in the future"
            case .invalidSignature: return "no signature matches"
            }
        }
    }

    public static let tolerance: Int64 = 300

    /// Decodes a `whsec_…` secret (or plain base64) into key bytes; nil when it is not base64.
    public static func key(from secret: String) -> SymmetricKey? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        return Data(base64Encoded: encoded).map(SymmetricKey.init(data:))
    }

    /// `v1,<base64 HMAC>` for one secret.
    public static func signature(id: String, timestamp: Int64, body: [UInt8], key: SymmetricKey) -> String {
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: key)
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The three headers for one outbound call, signed with every key (space-separated).
    public static func headers(id: String, timestamp: Int64, body: [UInt8], keys: [SymmetricKey]) -> [(String, String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)),
         ("webhook-signature", keys.map { signature(id: id, timestamp: timestamp, body: body, key: $0) }.joined(separator: " "))]
    }

    /// Verifies raw bytes against the headers with any of `keys`; `now` in UTC seconds.
    public static func verify(body: [UInt8], id: String?, timestamp: String?, signature: String?, keys: [SymmetricKey], now: Int64) throws(VerificationError) {
        guard let id, !id.isEmpty else { throw .missingHeader("webhook-id") }
        guard let timestamp else { throw .missingHeader("webhook-timestamp") }
        guard let signature else { throw .missingHeader("webhook-signature") }
        guard let seconds = Int64(timestamp) else { throw .invalidHeader("webhook-timestamp") }
        if seconds < now - tolerance { throw .timestampTooOld }
        if seconds > now + tolerance { throw .futureTimestamp }
        let offered = signature.split(separator: " ").compactMap { part -> Data? in
            let pieces = part.split(separator: ",", maxSplits: 1)
            guard pieces.count == 2, pieces[0] == "v1" else { return nil }
            return Data(base64Encoded: String(pieces[1]))
        }
        guard !offered.isEmpty else { throw .invalidHeader("webhook-signature") }
        var content = Data("\(id).\(seconds).".utf8)
        content.append(contentsOf: body)
        for key in keys {
            let expected = Data(HMAC<SHA256>.authenticationCode(for: content, using: key))
            if offered.contains(where: { constantTimeEqual($0, expected) }) { return }
        }
        throw .invalidSignature
    }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
