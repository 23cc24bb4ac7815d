import Foundation
import HTTPTypes
import Hummingbird
import Intake
import Scheduling
import Storage

extension Routes {
    // MARK: - Staff sign-in: email and password, then the authenticator code

    static func signIn(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let signIn = StaffSignIn(env: env)
        let settings = env.configuration.settings
        let cookieName = Authenticator.cookieName(publicURL: settings.publicURL)
        let secure = settings.publicURL.hasPrefix("https:")
        @Sendable func cookie(_ value: String, maxAge: Int) -> Cookie {
            Cookie(name: cookieName, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
        }
        /// Sign-in forms are cookie-less posts, but a form posted from another site could still sign a browser in as
        /// someone else (login CSRF): the same Origin check as every staff form.
        @Sendable func checkOrigin(_ request: Request) throws {
            guard Authenticator.isSameOrigin(request, publicURL: settings.publicURL) else {
                throw APIError(status: .forbidden, code: "cross_origin", message: "form posts must come from this service's own pages")
            }
        }
        @Sendable func waitPage(_ seconds: Int, form: String) -> Response {
            var response = HTML.response(form, status: .tooManyRequests)
            response.headers[.retryAfter] = String(seconds)
            return response
        }

        table.add(.get, "/login", .open, page: true) { request, _ in
            HTML.response(loginPage(next: request.uri.queryParameters["next"].map(String.init) ?? "", error: nil))
        }
        table.add(.post, "/login", .open, page: true) { request, context in
            try checkOrigin(request)
            let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
            let safe = RequestSafety.sameSitePath(form["next"], fallback: "")
            let next = safe.isEmpty ? nil : safe
            let again = { (error: String) in loginPage(next: form["next"] ?? "", email: form["email"] ?? "", error: error) }
            switch try await signIn.password(email: form["email"] ?? "", password: form["password"] ?? "", next: next, source: context.clientAddress) {
            case .refused:
                return HTML.response(again("That email and password do not match an account. Check them, or ask ops to reset your password."), status: .unauthorized)
            case .wait(let seconds):
                return waitPage(seconds, form: again("Too many failed attempts. Try again in \(seconds) seconds."))
            case .noSecondFactor:
                return HTML.response(again("This account has no authenticator set up. Ask ops to run `rom users reset --mfa` for it."), status: .forbidden)
            case .needsCode(let pending):
                var response = Response.redirect(to: "/login/code", type: .normal)
                response.setCookie(cookie(pending, maxAge: Int(StaffAuth.codeStepLifetime)))
                return response
            }
        }
        table.add(.get, "/login/code", .open, page: true) { request, _ in
            guard request.cookies[cookieName] != nil else { return Response.redirect(to: "/login", type: .normal) }
            return HTML.response(codePage(error: nil))
        }
        table.add(.post, "/login/code", .open, page: true) { request, context in
            try checkOrigin(request)
            let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
            switch try await signIn.code(cookie: request.cookies[cookieName]?.value, code: form["code"] ?? "", source: context.clientAddress) {
            case .refused:
                return HTML.response(codePage(error: "That code was not right. Codes change every 30 seconds: enter the one your app shows now, or a recovery code."),
                                     status: .unauthorized)
            case .wait(let seconds):
                return waitPage(seconds, form: codePage(error: "Too many failed attempts. Try again in \(seconds) seconds."))
            case .restart:
                return HTML.response(loginPage(next: "", error: "Your sign-in timed out. Enter your email and password again."), status: .unauthorized)
            case .signedIn(let session, let next):
                var response = Response.redirect(to: next, type: .normal)
                response.setCookie(cookie(session, maxAge: Int(settings.sessionLifetime.seconds)))
                return response
            }
        }
        table.add(.post, "/logout", .open, page: true) { request, _ in
            // Signing someone out from another site is a nuisance attack: the same origin check as every cookie POST.
            try checkOrigin(request)
            if let value = request.cookies[cookieName]?.value {
                try await env.store.deleteSession(hash: Credentials.hash(value))
            }
            var response = Response.redirect(to: "/login", type: .normal)
            response.setCookie(cookie("", maxAge: 0))
            return response
        }
    }

    static func loginPage(next: String, email: String = "", error: String?) -> String {
        HTML.page(title: "Sign in", body: """
        <h1>Sign in</h1>
        \(error.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "")
        <form method="post" action="/login">
        <input type="hidden" name="next" value="\(HTML.escape(next))">
        <label for="email">Email</label>
        <input type="email" id="email" name="email" value="\(HTML.escape(email))" autocomplete="username" required>
        <label for="password">Password</label>
        <input type="password" id="password" name="password" autocomplete="current-password" required>
        <button type="submit">Continue</button>
        </form>
        <p class="muted">Accounts are created by ops staff with <code>rom users create</code>. You will need your authenticator app next.</p>
        """)
    }

    static func codePage(error: String?) -> String {
        HTML.page(title: "Sign in", body: """
        <h1>Enter your code</h1>
        \(error.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "")
        <form method="post" action="/login/code">
        <label for="code">6-digit code from your authenticator app</label>
        <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="12" required autofocus>
        <button type="submit">Sign in</button>
        </form>
        <p class="muted">Lost your phone? Enter one of your recovery codes instead (each works once), or ask ops to reset your authenticator.</p>
        """)
    }

    // MARK: - Account set-up links and the ops accounts page

    static func accounts(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        let signIn = StaffSignIn(env: env)
        let gone = HTML.page(title: "Set up your account", body: """
            <h1>This link has ended</h1><p>Set-up links work once, for 72 hours. Ask ops for a new one (<code>rom users reset</code>).</p>
            """)
        table.add(.get, "/account/setup/:token", .open, page: true) { _, context in
            guard let user = try await signIn.setupAccount(link: context.parameters.get("token") ?? "") else { return HTML.response(gone, status: .gone) }
            return HTML.response(setupPage(email: user.email, error: nil))
        }
        table.add(.post, "/account/setup/:token", .open, page: true) { request, context in
            guard Authenticator.isSameOrigin(request, publicURL: env.configuration.settings.publicURL) else {
                throw APIError(status: .forbidden, code: "cross_origin", message: "form posts must come from this service's own pages")
            }
            let link = context.parameters.get("token") ?? ""
            let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 16 * 1024)))
            switch try await signIn.completeSetup(link: link, password: form["password"] ?? "", confirmation: form["confirm"] ?? "") {
            case .gone:
                return HTML.response(gone, status: .gone)
            case .invalid(let problem):
                let email = try await signIn.setupAccount(link: link)?.email ?? ""
                return HTML.response(setupPage(email: email, error: "Your password was not saved: \(problem)."), status: .unprocessableContent)
            case .done(let email, let secret, let codes):
                return HTML.response(enrolledPage(email: email, secret: secret, recoveryCodes: codes))
            }
        }
        table.add(.get, "/ops/users", .roles([.ops]), page: true) { _, context in
            let users = try await env.store.users()
            let now = env.now()
            let stamp = ISO8601DateFormatter()
            let rows = users.map { user in
                let state = user.isDisabled ? "disabled" : user.passwordHash == nil ? "waiting for set-up" : (user.lockedUntil.map { $0 > now } ?? false) ? "held back after failed sign-ins" : "active"
                let action = user.isDisabled || context.identity?.credential == .user(id: user.id, email: user.email) ? "" : """
                    <form method="post" action="/ops/users/\(HTML.escape(user.id))/disable"><button type="submit">Disable</button></form>
                    """
                return "<tr><td>\(HTML.escape(user.email))</td><td>\(user.role.rawValue)</td><td>\(HTML.escape(user.team ?? "—"))</td><td>\(state)</td>"
                    + "<td>\(user.totpSecret == nil ? "not set up" : "TOTP, \(user.recoveryCodesLeft) recovery codes left")</td>"
                    + "<td>\(user.lastSignInAt.map { stamp.string(from: $0) } ?? "never")</td><td>\(action)</td></tr>"
            }.joined()
            return HTML.response(HTML.page(title: "Staff accounts", body: """
            <h1>Staff accounts</h1>
            <p>Create accounts and reset passwords or authenticators with <code>rom users create</code> and <code>rom users reset</code>; disabling ends the account's sessions at once.</p>
            <table><tr><th>Email</th><th>Role</th><th>Team</th><th>State</th><th>Second factor</th><th>Last sign-in (UTC)</th><th></th></tr>\(rows)</table>
            """, signedIn: true))
        }
        table.add(.post, "/ops/users/:id/disable", .roles([.ops]), page: true) { _, context in
            let id = context.parameters.get("id") ?? ""
            guard context.identity?.credential != .user(id: id, email: context.actor) else {
                throw APIError(status: .unprocessableContent, code: "own_account", message: "you cannot disable your own account; ask another ops member")
            }
            guard try await env.store.disableUser(id: id, actor: context.actor, now: env.now()) else {
                throw APIError(status: .notFound, code: "not_found", message: "no active account `\(id)`")
            }
            return Response.redirect(to: "/ops/users", type: .normal)
        }
    }

    static func setupPage(email: String, error: String?) -> String {
        HTML.page(title: "Set up your account", body: """
        <h1>Set up your account</h1>
        <p>For <strong>\(HTML.escape(email))</strong>. Choose a password of at least 12 characters (three random words work well).</p>
        \(error.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "")
        <form method="post">
        <input type="text" name="username" value="\(HTML.escape(email))" autocomplete="username" hidden>
        <label for="password">New password</label>
        <input type="password" id="password" name="password" autocomplete="new-password" minlength="12" required>
        <label for="confirm">The same password again</label>
        <input type="password" id="confirm" name="confirm" autocomplete="new-password" minlength="12" required>
        <button type="submit">Save password</button>
        </form>
        """)
    }

    /// Shown once, straight after set-up: the TOTP secret, its otpauth URI and the recovery codes.
    static func enrolledPage(email: String, secret: String?, recoveryCodes: [String]) -> String {
        guard let secret else {
            return HTML.page(title: "Password saved", body: "<h1>Password saved</h1><p>Sign in with it and your authenticator app as before.</p><p><a href=\"/login\">Sign in</a></p>")
        }
        let uri = StaffAuth.otpauthURI(secret: secret, email: email)
        return HTML.page(title: "Set up your authenticator", body: """
        <h1>Set up your authenticator</h1>
        <p>Your password is saved. Every sign-in also needs a 6-digit code from an authenticator app (Microsoft Authenticator, Google Authenticator, FreeOTP …).</p>
        <p>Add an account in the app with this key, as a time-based code:</p>
        <p><code id="totp-secret">\(HTML.escape(StaffAuth.base32(ofSecret: secret)))</code></p>
        <p class="muted">Or open this link on the phone: <code id="otpauth-uri">\(HTML.escape(uri))</code></p>
        <h2>Recovery codes</h2>
        <p>If you lose your phone, each of these codes works once instead of a 6-digit code. Keep them somewhere safe; they are not shown again.</p>
        <ul id="recovery-codes">\(recoveryCodes.map { "<li><code>\($0)</code></li>" }.joined())</ul>
        <p><a href="/login">Sign in now</a></p>
        """)
    }
}
