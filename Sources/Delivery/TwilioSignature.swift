import Crypto
import Foundation

/// Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, over the full URL Twilio requested
/// followed by every POST parameter's name and value, sorted by name (references/reliability.md §2.1).
///
/// The URL must be rebuilt from the configured public base URL, never from `Host` or `X-Forwarded-*` (R14).
public enum TwilioSignature {
    public static func expected(url: String, parameters: [(String, String)], authToken: String) -> String {
        var content = url
        for (name, value) in parameters.sorted(by: { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }) {
            content += name + value
        }
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(content.utf8), using: SymmetricKey(data: Data(authToken.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Constant-time check of `header` against the expected signature.
    /// For a JSON body Twilio signs the URL only, which carries `bodySHA256` (hex SHA-256 of the body) as a query
    /// parameter: the body is bound to the signature only when that parameter matches it.
    public static func jsonBodyMatches(url: String, body: [UInt8]) -> Bool {
        guard let query = URLComponents(string: url)?.queryItems, let given = query.first(where: { $0.name == "bodySHA256" })?.value else { return false }
        return StandardWebhooks.constantTimeEqual(Data(given.lowercased().utf8), Data(Hex.encode(SHA256.hash(data: Data(body))).utf8))
    }

    public static func isValid(header: String?, url: String, parameters: [(String, String)], authToken: String) -> Bool {
        guard let header, let offered = Data(base64Encoded: header),
              let wanted = Data(base64Encoded: expected(url: url, parameters: parameters, authToken: authToken)) else { return false }
        return StandardWebhooks.constantTimeEqual(offered, wanted)
    }
}
