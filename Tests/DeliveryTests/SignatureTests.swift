import Crypto
import Delivery
import Foundation
import Testing

/// Published vectors and the negative cases every verifier must refuse (R13, R15, R37).
@Suite("Webhook signatures")
struct SignatureTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: Int64 = 1_614_265_330
    static let body = Array(#"{"test": 2432232314}"#.utf8)

    var key: SymmetricKey { StandardWebhooks.key(from: Self.secret)! }

    @Test("Standard Webhooks test vector: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    func vector() throws {
        #expect(StandardWebhooks.signature(id: Self.id, timestamp: Self.timestamp, body: Self.body, key: key) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: String(Self.timestamp),
                                    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", keys: [key], now: Self.timestamp)
    }

    @Test("Tampered body, wrong secret, missing header and stale or future timestamps are refused; one valid of several signatures passes")
    func negatives() throws {
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        let t = String(Self.timestamp)
        #expect(throws: StandardWebhooks.VerificationError.invalidSignature) {
            try StandardWebhooks.verify(body: Array(#"{"test": 2432232315}"#.utf8), id: Self.id, timestamp: t, signature: good, keys: [key], now: Self.timestamp)
        }
        let wrong = StandardWebhooks.key(from: "whsec_" + Data(repeating: 7, count: 24).base64EncodedString())!
        #expect(throws: StandardWebhooks.VerificationError.invalidSignature) {
            try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: good, keys: [wrong], now: Self.timestamp)
        }
        #expect(throws: StandardWebhooks.VerificationError.missingHeader("webhook-signature")) {
            try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: nil, keys: [key], now: Self.timestamp)
        }
        #expect(throws: StandardWebhooks.VerificationError.timestampTooOld) {
            try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: good, keys: [key], now: Self.timestamp + 301)
        }
        #expect(throws: StandardWebhooks.VerificationError.futureTimestamp) {
            try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: good, keys: [key], now: Self.timestamp - 301)
        }
        try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: good, keys: [key], now: Self.timestamp + 299)
        try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: "v1,bm90IGl0 " + good, keys: [key], now: Self.timestamp)
        // During a rotation the old and the new secret both verify.
        try StandardWebhooks.verify(body: Self.body, id: Self.id, timestamp: t, signature: good, keys: [wrong, key], now: Self.timestamp)
    }

    @Test("Outbound headers carry one v1 signature per secret during a rotation, each verifiable on its own")
    func outboundRotation() throws {
        let second = StandardWebhooks.key(from: "whsec_" + Data(repeating: 9, count: 32).base64EncodedString())!
        let headers = StandardWebhooks.headers(id: "k1", timestamp: 100, body: [1, 2, 3], keys: [key, second])
        let signature = try #require(headers.first { $0.0 == "webhook-signature" }?.1)
        #expect(signature.split(separator: " ").count == 2)
        try StandardWebhooks.verify(body: [1, 2, 3], id: "k1", timestamp: "100", signature: signature, keys: [second], now: 100)
    }

    @Test("Twilio vector: token 12345 over the documented URL and parameters gives 0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    func twilio() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        let parameters = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"), ("From", "+12349013030"), ("To", "+18005551212")]
        #expect(TwilioSignature.expected(url: url, parameters: parameters, authToken: "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        #expect(TwilioSignature.isValid(header: "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url: url, parameters: parameters.reversed(), authToken: "12345"))
        #expect(!TwilioSignature.isValid(header: "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url: "https://evil.example/myapp.php?foo=1&bar=2", parameters: parameters, authToken: "12345"))
        #expect(!TwilioSignature.isValid(header: "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url: url, parameters: parameters + [("Body", "STOP")], authToken: "12345"))
        #expect(!TwilioSignature.isValid(header: nil, url: url, parameters: parameters, authToken: "12345"))
    }
}

@Suite("Mailgun webhook signatures")
struct MailgunSignatureTests {
    // hex HMAC-SHA256("key-mailgun-test", "1793610000" + token), computed with Python's hmac module.
    let token = "abcdef0123456789abcdef0123456789abcdef0123456789ab"
    let valid = "26ccedcf1180b6e8e2b0fc3559f21a5767b4508de091660f5b4811465b17f7b5"
    let at = Date(timeIntervalSince1970: 1_793_610_000)

    @Test("Valid, wrong key, tampered token, missing field, stale timestamp, and key rotation")
    func vectors() {
        #expect(MailgunSignature.expected(timestamp: "1793610000", token: token, key: "key-mailgun-test") == valid)
        #expect(MailgunSignature.isValid(timestamp: "1793610000", token: token, signature: valid, keys: ["key-mailgun-test"], now: at))
        #expect(MailgunSignature.isValid(timestamp: "1793610000", token: token, signature: valid, keys: ["old-key", "key-mailgun-test"], now: at))
        #expect(!MailgunSignature.isValid(timestamp: "1793610000", token: token, signature: valid, keys: ["another-key"], now: at))
        #expect(!MailgunSignature.isValid(timestamp: "1793610000", token: token + "x", signature: valid, keys: ["key-mailgun-test"], now: at))
        #expect(!MailgunSignature.isValid(timestamp: nil, token: token, signature: valid, keys: ["key-mailgun-test"], now: at))
        #expect(!MailgunSignature.isValid(timestamp: "1793610000", token: token, signature: valid, keys: ["key-mailgun-test"], now: at.addingTimeInterval(301)))
    }
}
