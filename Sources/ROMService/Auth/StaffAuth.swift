public import Foundation
import Crypto
import ExtrasBase64
import HummingbirdBcrypt
import HummingbirdOTP

/// The rules of staff sign-in, as values: password policy, the account's backoff, TOTP checking and recovery codes.
/// No clock, no database: `StaffSignIn` applies them.
public enum StaffAuth {
    /// bcrypt's work factor: 2^12 rounds (OWASP's floor for bcrypt).
    public static let bcryptCost: UInt8 = 12
    /// A pending sign-in (password accepted, code not yet given) lasts this long.
    public static let codeStepLifetime: TimeInterval = 5 * 60
    /// A set-up link from `rom users create` or `reset` works for this long.
    public static let setupLinkLifetime: TimeInterval = 72 * 3_600

    // MARK: Passwords

    /// Why a new password is refused, or nil. Length is what matters (NCSC, NIST SP 800-63B): 12 characters at least,
    /// and no more than bcrypt reads (72 bytes).
    public static func passwordProblem(_ password: String, email: String) -> String? {
        if password.count < 12 { return "a password needs at least 12 characters (three random words work well)" }
        if password.utf8.count > 72 { return "a password can be at most 72 bytes long" }
        if Set(password).count < 4 { return "a password needs more than a few different characters" }
        if password.lowercased().contains(email.lowercased().split(separator: "@").first.map(String.init) ?? email) {
            return "a password must not contain your email name"
        }
        return nil
    }

    /// bcrypt, off the cooperative threads: a hash at cost 12 takes a quarter of a second or more, which would
    /// stall every request on a two-core machine if it ran on Swift's concurrency pool.
    public static func hashPassword(_ password: String) async -> String {
        await offload { Bcrypt.hash(password, cost: bcryptCost) }
    }

    public static func verifyPassword(_ password: String, hash: String) async -> Bool {
        await offload { Bcrypt.verify(password, hash: hash) }
    }

    /// Checked against when the account is unknown or has no password, so that a wrong email takes as long to refuse
    /// as a wrong password (no telling which accounts exist by timing). Made lazily, on the Dispatch thread of the
    /// first `verifyDecoy`, never on a cooperative one.
    private static let decoyHash = Bcrypt.hash("decoy password that matches nothing", cost: bcryptCost)

    /// The same work as checking a real password, for an account that does not exist; always false.
    public static func verifyDecoy(_ password: String) async -> Bool {
        await offload { Bcrypt.verify(password, hash: decoyHash) && false }
    }

    private static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    // MARK: Backoff

    /// Failures an account may make before it has to wait.
    public static let freeFailures = 5

    /// When an account with `failures` consecutive failed steps may try again: free for the first five, then 30 s,
    /// doubling with each further failure, at most 15 minutes. Only the account is held back, never an address, so
    /// a guesser cannot lock out colleagues behind the same proxy, and the owner is kept waiting minutes, not days.
    public static func lockedUntil(failures: Int, now: Date) -> Date? {
        guard failures > freeFailures else { return nil }
        let wait = min(15 * 60.0, 30 * pow(2, Double(min(failures - freeFailures - 1, 10))))
        return now.addingTimeInterval(wait)
    }

    // MARK: TOTP (RFC 6238)

    /// A new TOTP secret: 32 characters from the base-32 alphabet (160 bits), used as the HMAC key's bytes. The
    /// otpauth URI carries its base-32 encoding, which is what authenticator apps read.
    public static func newTOTPSecret() -> String {
        randomCharacters(32, from: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
    }

    /// The base-32 form an authenticator app is given to type in (the same as in the otpauth URI).
    public static func base32(ofSecret secret: String) -> String {
        String(base32Encoding: secret.utf8, options: .omitPaddingCharacter)
    }

    public static func otpauthURI(secret: String, email: String) -> String {
        TOTP(secret: secret).createAuthenticatorURL(label: "rom:\(email)", issuer: "rom")
    }

    public static func timeStep(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / 30).rounded(.down)) }

    /// The time step a 6-digit `code` is good for at `now` — this step or one either side, for clock drift — and
    /// later than `after` (each step is accepted once). Nil when the code does not match.
    public static func matchingStep(code: String, secret: String, now: Date, after lastStep: Int64) -> Int64? {
        let digits = code.filter { !$0.isWhitespace }
        guard digits.count == 6, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let value = Int(digits) else { return nil }
        let totp = TOTP(secret: secret)
        let current = timeStep(now)
        for step in [current, current - 1, current + 1] where step > lastStep {
            if totp.compute(date: Date(timeIntervalSince1970: TimeInterval(step) * 30)) == value { return step }
        }
        return nil
    }

    // MARK: Recovery codes

    /// Ten single-use codes such as `k7mq2-x9tce`, shown once; each stands in for a TOTP code when the phone is lost.
    public static func newRecoveryCodes(count: Int = 10) -> [String] {
        let alphabet = Array("abcdefghjkmnpqrstuvwxyz23456789")
        return (0..<count).map { _ in randomCharacters(5, from: alphabet) + "-" + randomCharacters(5, from: alphabet) }
    }

    /// Codes are compared without case, spaces or dashes, then hashed (SHA-256: they are random, not chosen).
    public static func recoveryCodeHash(_ code: String) -> String {
        Credentials.hash("recovery:" + code.lowercased().filter { $0.isLetter || $0.isNumber })
    }

    /// Looks like a recovery code rather than a TOTP code.
    public static func isRecoveryCode(_ code: String) -> Bool {
        code.filter { $0.isLetter || $0.isNumber }.count == 10
    }

    private static func randomCharacters(_ count: Int, from alphabet: [Character]) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
