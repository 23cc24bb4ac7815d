import Foundation

/// Decisions about untrusted request values, as pure functions: where a sign-in may send the browser next, and which
/// address a request really comes from.
public enum RequestSafety {
    /// `next` when it is a path on this site, else `fallback`. Only a single `/` followed by neither `/` nor `\`
    /// (browsers read `/\evil.example` and `//evil.example` as another host), and no control characters or backslashes
    /// anywhere (`/%09/evil.example` arrives here decoded, as `/\t/evil.example`).
    public static func sameSitePath(_ next: String?, fallback: String) -> String {
        guard let next, next.hasPrefix("/"), next.count <= 2_000 else { return fallback }
        let scalars = Array(next.unicodeScalars)
        if scalars.count > 1, scalars[1] == "/" || scalars[1] == "\\" { return fallback }
        if scalars.contains(where: { $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F || ($0.value >= 0x80 && $0.value < 0xA0) }) { return fallback }
        return next
    }

    /// The client's address: the TCP peer, unless the peer is a trusted proxy (`security.trusted_proxies`), in which
    /// case the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left can be
    /// written by anyone).
    public static func clientAddress(peer: String?, forwardedFor: String?, trustedProxies: Set<String>) -> String? {
        guard let peer, trustedProxies.contains(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for hop in hops.reversed() where !trustedProxies.contains(hop) {
            return hop
        }
        return hops.first ?? peer
    }
}
