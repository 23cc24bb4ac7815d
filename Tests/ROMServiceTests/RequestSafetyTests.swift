import ROMService
import Testing

/// Untrusted request values: where a sign-in may redirect, and whose address a request is.
@Suite("Request safety")
struct RequestSafetyTests {
    @Test("Sign-in `next` accepts only a path on this site", arguments: [
        ("/clinician/people", "/clinician/people"), ("/ops/reports?report=outcomes", "/ops/reports?report=outcomes"),
        ("//evil.example", "/home"), ("/\\evil.example", "/home"), ("/\t/evil.example", "/home"), ("/\n/evil.example", "/home"),
        ("https://evil.example/", "/home"), ("evil.example", "/home"), ("", "/home"), ("/ops\\..\\evil", "/home"), ("/\u{7F}x", "/home"),
        ("/ok\r\nSet-Cookie: x=1", "/home"),
    ])
    func sameSite(_ next: String, _ expected: String) {
        #expect(RequestSafety.sameSitePath(next, fallback: "/home") == expected)
    }

    @Test("X-Forwarded-For is believed only from a trusted proxy, and only its right-most untrusted entry")
    func clientAddress() {
        let trusted: Set<String> = ["127.0.0.1", "10.0.0.2"]
        #expect(RequestSafety.clientAddress(peer: "203.0.113.9", forwardedFor: "198.51.100.1", trustedProxies: trusted) == "203.0.113.9",
                "an untrusted peer cannot choose its address")
        #expect(RequestSafety.clientAddress(peer: "127.0.0.1", forwardedFor: "198.51.100.1", trustedProxies: trusted) == "198.51.100.1")
        #expect(RequestSafety.clientAddress(peer: "127.0.0.1", forwardedFor: "6.6.6.6, 198.51.100.1, 10.0.0.2", trustedProxies: trusted) == "198.51.100.1",
                "entries left of the first untrusted hop are the client's own writing")
        #expect(RequestSafety.clientAddress(peer: "127.0.0.1", forwardedFor: nil, trustedProxies: trusted) == "127.0.0.1")
        #expect(RequestSafety.clientAddress(peer: "127.0.0.1", forwardedFor: "198.51.100.1", trustedProxies: []) == "127.0.0.1")
    }
}
