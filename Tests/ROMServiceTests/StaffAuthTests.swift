import Foundation
import ROMService
import Testing

/// The rules of staff sign-in as values, against published figures where there are any.
@Suite("Staff sign-in rules")
struct StaffAuthTests {
    /// RFC 6238 Appendix B: the SHA-1 test key is the ASCII of "12345678901234567890"; the 8-digit TOTPs at these
    /// times are 94287082, 07081804, 14050471, 89005924, 69279037 — a 6-digit code is the last six digits.
    @Test("RFC 6238 Appendix B test vectors (SHA-1, 6 digits) match, each at its own time step only")
    func rfc6238Vectors() {
        let key = "12345678901234567890"
        let vectors: [(TimeInterval, String)] = [(59, "287082"), (1_111_111_109, "081804"), (1_111_111_111, "050471"),
                                                 (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        for (time, code) in vectors {
            let now = Date(timeIntervalSince1970: time)
            #expect(StaffAuth.matchingStep(code: code, secret: key, now: now, after: 0) == Int64(time / 30), "T = \(Int(time))")
            #expect(StaffAuth.matchingStep(code: code, secret: key, now: now, after: Int64(time / 30)) == nil, "a step once accepted is not accepted again")
            #expect(StaffAuth.matchingStep(code: code, secret: key, now: now.addingTimeInterval(90), after: 0) == nil, "three steps later")
        }
        // One step of drift either way: the code for T=59 (step 1) is still good in step 2 and already good in step 0.
        #expect(StaffAuth.matchingStep(code: "287082", secret: key, now: Date(timeIntervalSince1970: 89), after: 0) == 1)
        #expect(StaffAuth.matchingStep(code: "287082", secret: key, now: Date(timeIntervalSince1970: 29), after: 0) == 1)
        #expect(StaffAuth.matchingStep(code: "287083", secret: key, now: Date(timeIntervalSince1970: 59), after: 0) == nil)
        #expect(StaffAuth.matchingStep(code: "28708", secret: key, now: Date(timeIntervalSince1970: 59), after: 0) == nil)
        #expect(StaffAuth.matchingStep(code: "٢٨٧٠٨٢", secret: key, now: Date(timeIntervalSince1970: 59), after: 0) == nil, "ASCII digits only")
    }

    @Test("The otpauth URI carries the secret in RFC 4648 base 32, with label and issuer")
    func otpauthURI() {
        // RFC 4648 §10: BASE32("foobar") = "MZXW6YTBOI======" (padding omitted in otpauth URIs).
        #expect(StaffAuth.base32(ofSecret: "foobar") == "MZXW6YTBOI")
        let uri = StaffAuth.otpauthURI(secret: "foobar", email: "nia@example.org")
        #expect(uri == "otpauth://totp/rom:nia@example.org?secret=MZXW6YTBOI&issuer=rom")
        let secret = StaffAuth.newTOTPSecret()
        #expect(secret.count == 32 && secret.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
        #expect(StaffAuth.newTOTPSecret() != secret)
    }

    @Test("The account's backoff: five failures free, then 30 s doubling to at most 15 minutes")
    func backoff() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        for failures in 0...5 { #expect(StaffAuth.lockedUntil(failures: failures, now: now) == nil) }
        #expect(StaffAuth.lockedUntil(failures: 6, now: now) == now.addingTimeInterval(30))
        #expect(StaffAuth.lockedUntil(failures: 7, now: now) == now.addingTimeInterval(60))
        #expect(StaffAuth.lockedUntil(failures: 10, now: now) == now.addingTimeInterval(480))
        #expect(StaffAuth.lockedUntil(failures: 11, now: now) == now.addingTimeInterval(900))
        #expect(StaffAuth.lockedUntil(failures: 1_000, now: now) == now.addingTimeInterval(900))
    }

    @Test("Passwords: at least 12 characters, at most bcrypt's 72 bytes, not one repeated character, not the email name")
    func passwordRules() {
        #expect(StaffAuth.passwordProblem("plum orbit lantern", email: "nia@example.org") == nil)
        #expect(StaffAuth.passwordProblem("short pw 1", email: "nia@example.org")?.contains("12 characters") == true)
        #expect(StaffAuth.passwordProblem(String(repeating: "ab", count: 8), email: "nia@example.org") != nil)
        #expect(StaffAuth.passwordProblem(String(repeating: "é", count: 40), email: "nia@example.org")?.contains("72 bytes") == true)
        #expect(StaffAuth.passwordProblem("Nia.Lantern.Orbit", email: "nia.lantern@example.org") != nil)
    }

    @Test("Recovery codes: ten different ones, compared without case, spaces or dashes; told apart from 6-digit codes")
    func recoveryCodes() {
        let codes = StaffAuth.newRecoveryCodes()
        #expect(codes.count == 10 && Set(codes).count == 10)
        #expect(codes.allSatisfy { $0.count == 11 && StaffAuth.isRecoveryCode($0) })
        #expect(StaffAuth.recoveryCodeHash("k7mq2-x9tce") == StaffAuth.recoveryCodeHash(" K7MQ2 X9TCE "))
        #expect(StaffAuth.recoveryCodeHash("k7mq2-x9tce") != StaffAuth.recoveryCodeHash("k7mq2-x9tcf"))
        #expect(!StaffAuth.isRecoveryCode("123456"))
    }

    @Test("bcrypt at cost 12: the hash is $2b$12$…, verifies the password and nothing else")
    func bcrypt() async {
        let hash = await StaffAuth.hashPassword("plum orbit lantern")
        #expect(hash.hasPrefix("$2b$12$") && hash.count == 60)
        #expect(await StaffAuth.verifyPassword("plum orbit lantern", hash: hash))
        #expect(await StaffAuth.verifyPassword("plum orbit lanterN", hash: hash) == false)
    }
}
