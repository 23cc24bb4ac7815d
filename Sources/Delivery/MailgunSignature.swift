import Crypto
public import Foundation

/// Mailgun's webhook signature: `signature` = hex HMAC-SHA256(signing key, timestamp + token), with the timestamp
/// within five minutes of now (Mailgun's documented check), compared in constant time.
public enum MailgunSignature {
    public static func expected(timestamp: String, token: String, key: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data((timestamp + token).utf8), using: SymmetricKey(data: Data(key.utf8)))
        return Hex.encode(mac)
    }

    public static func isValid(timestamp: String?, token: String?, signature: String?, keys: [String], now: Date, tolerance: TimeInterval = 300) -> Bool {
        guard let timestamp, let token, let signature, let seconds = Double(timestamp), abs(now.timeIntervalSince1970 - seconds) <= tolerance else { return false }
        let given = Array(signature.lowercased().utf8)
        return keys.contains { key in
            let wanted = Array(expected(timestamp: timestamp, token: token, key: key).utf8)
            guard wanted.count == given.count else { return false }
            return zip(wanted, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }
}
