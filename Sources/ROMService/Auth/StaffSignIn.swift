import Foundation
import Logging
import Prometheus
import Scheduling
import Storage

/// Staff sign-in in two steps — email and password, then a TOTP or recovery code — and account set-up from a
/// one-time link. The routes decode the forms and render; every decision is here or in `StaffAuth`.
struct StaffSignIn: Sendable {
    let env: ServiceEnvironment

    enum PasswordOutcome: Equatable {
        /// Wrong email or password (the same answer for both).
        case refused
        /// Too many failures: of this account, or of this address at unknown accounts.
        case wait(seconds: Int)
        /// The account has a password but no TOTP secret (an interrupted reset): ops must reset its MFA.
        case noSecondFactor
        /// The password was right; the code form comes next, on this pending session.
        case needsCode(cookie: String)
    }

    enum CodeOutcome: Equatable {
        case refused
        case wait(seconds: Int)
        /// No pending sign-in (none, expired after 5 minutes, or the account was disabled): start again.
        case restart
        case signedIn(cookie: String, next: String)
    }

    static func normalizedEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    func password(email rawEmail: String, password: String, next: String?, source: String) async throws -> PasswordOutcome {
        let now = env.now()
        let email = Self.normalizedEmail(rawEmail)
        guard let user = try await env.store.user(email: email), !user.isDisabled, let hash = user.passwordHash else {
            // An unknown account: only here does the address count, so guessing emails from one place is slowed
            // without anyone's real account being held back by it.
            if let wait = env.failureLimiter.retryAfter(source, now: now) { return .wait(seconds: wait) }
            _ = await StaffAuth.verifyDecoy(password)
            env.failureLimiter.recordFailure(source, now: now)
            signInEvent("login_unknown_account", source: source)
            return .refused
        }
        if let wait = waitSeconds(user, now: now) { return .wait(seconds: wait) }
        guard await StaffAuth.verifyPassword(password, hash: hash) else {
            try await fail(user, step: "password", source: source, now: now)
            return .refused
        }
        // Every staff account signs in with a second factor; there is deliberately no setting to turn it off.
        guard user.totpSecret != nil else { return .noSecondFactor }
        let cookie = Credentials.newSecret(prefix: "s")
        try await env.store.insertSession(hash: Credentials.hash(cookie), userID: user.id, stage: .password, next: next, now: now,
                                          expiresAt: now.addingTimeInterval(StaffAuth.codeStepLifetime))
        return .needsCode(cookie: cookie)
    }

    func code(cookie: String?, code: String, source: String) async throws -> CodeOutcome {
        let now = env.now()
        guard let cookie, !cookie.isEmpty,
              let (session, user) = try await env.store.session(hash: Credentials.hash(cookie), idle: StaffAuth.codeStepLifetime, now: now),
              session.stage == .password else { return .restart }
        if let wait = waitSeconds(user, now: now) { return .wait(seconds: wait) }
        let code = code.trimmingCharacters(in: .whitespacesAndNewlines)
        var accepted = false
        var usedRecovery = false
        if StaffAuth.isRecoveryCode(code) {
            accepted = try await env.store.useRecoveryCode(userID: user.id, hash: StaffAuth.recoveryCodeHash(code), now: now)
            usedRecovery = accepted
        } else if let secret = user.totpSecret, let step = StaffAuth.matchingStep(code: code, secret: secret, now: now, after: user.totpLastStep) {
            accepted = try await env.store.acceptTOTPStep(userID: user.id, step: step)
        }
        guard accepted else {
            try await fail(user, step: "code", source: source, now: now)
            return .refused
        }
        // The pending session is spent and a new one issued: the cookie a browser held before signing in is
        // never the one that is signed in (no session fixation).
        try await env.store.deleteSession(id: session.id)
        let signedIn = try await startSession(user, now: now)
        if usedRecovery {
            try await env.store.audit(AuditEvent(at: now, actor: user.email, action: "user.recovery_code_used", personID: nil,
                                                 detail: "\(max(0, user.recoveryCodesLeft - 1)) left", requestID: nil))
        }
        return .signedIn(cookie: signedIn, next: session.next ?? Self.home(user.role))
    }

    /// Where a role lands after signing in.
    static func home(_ role: Role) -> String { role == .clinician ? "/clinician/people" : "/ops" }

    private func startSession(_ user: StaffUser, now: Date) async throws -> String {
        let cookie = Credentials.newSecret(prefix: "s")
        try await env.store.insertSession(hash: Credentials.hash(cookie), userID: user.id, stage: .signedIn, next: nil, now: now,
                                          expiresAt: now.addingTimeInterval(TimeInterval(env.configuration.settings.sessionLifetime.seconds)))
        try await env.store.recordSignIn(userID: user.id, now: now)
        try await env.store.audit(AuditEvent(at: now, actor: user.email, action: "user.sign_in", personID: nil, detail: nil, requestID: nil))
        return cookie
    }

    private func waitSeconds(_ user: StaffUser, now: Date) -> Int? {
        guard let until = user.lockedUntil, until > now else { return nil }
        return max(1, Int(until.timeIntervalSince(now).rounded(.up)))
    }

    private func fail(_ user: StaffUser, step: String, source: String, now: Date) async throws {
        let count = try await env.store.recordSignInFailure(userID: user.id, lockedUntil: { StaffAuth.lockedUntil(failures: $0, now: now) }, now: now)
        try await env.store.audit(AuditEvent(at: now, actor: user.email, action: "user.sign_in_refused", personID: nil,
                                             detail: "wrong \(step); \(count) in a row", requestID: nil))
        signInEvent("login_wrong_\(step)", source: source)
    }

    private func signInEvent(_ event: String, source: String) {
        env.securityEvent(event, route: "/login", gateway: "-", source: source)
    }

    // MARK: - Set-up links

    enum SetupOutcome: Equatable {
        /// The link is unknown, used or expired.
        case gone
        case invalid(String)
        /// Password set; when the account had no TOTP yet, its new secret and recovery codes (shown once).
        case done(email: String, totpSecret: String?, recoveryCodes: [String])
    }

    func setupAccount(link: String) async throws -> StaffUser? {
        try await env.store.user(setupHash: Credentials.hash(link), now: env.now())
    }

    func completeSetup(link: String, password: String, confirmation: String) async throws -> SetupOutcome {
        let now = env.now()
        guard let user = try await setupAccount(link: link) else { return .gone }
        guard password == confirmation else { return .invalid("the two passwords are not the same") }
        if let problem = StaffAuth.passwordProblem(password, email: user.email) { return .invalid(problem) }
        // An account set up from its link gets its TOTP secret and recovery codes in the same step (a reset link
        // for an account that has them keeps them).
        let secret = user.totpSecret == nil ? StaffAuth.newTOTPSecret() : nil
        let codes = secret == nil ? [] : StaffAuth.newRecoveryCodes()
        try await env.store.setPassword(userID: user.id, hash: await StaffAuth.hashPassword(password),
                                        mfa: secret.map { ($0, codes.map(StaffAuth.recoveryCodeHash)) }, actor: user.email, now: now)
        return .done(email: user.email, totpSecret: secret, recoveryCodes: codes)
    }
}
