import Crypto
import Foundation

/// Staff tokens and session cookies: 256-bit random secrets, stored only as SHA-256.
public enum Credentials {
    /// A new secret with a readable prefix, e.g. `rom_ops_3q…`; shown once, never stored.
    public static func newSecret(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "\(prefix)_" + base64URL(bytes)
    }

    /// Lower-case hex SHA-256, the only form in which a secret reaches the database.
    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
