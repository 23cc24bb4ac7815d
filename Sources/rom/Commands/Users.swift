import ArgumentParser
import Foundation
import Logging
import ROMService
import Scheduling
import Storage

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage staff accounts: browser sign-in with a password and an authenticator code.",
        discussion: """
        Every account signs in at /login with its email and password, then a 6-digit TOTP code (RFC 6238) from an
        authenticator app, or one of its ten single-use recovery codes. Scripts and systems use tokens instead
        (`rom tokens`).
        """,
        subcommands: [Create.self, List.self, Disable.self, Reset.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a staff account.",
            discussion: """
            Without --password-stdin a one-time set-up link is printed (it works for 72 hours): the person opens it,
            chooses a password, and is shown their authenticator key and recovery codes once. With --password-stdin
            the first password is read from standard input (for scripted set-up) and the TOTP secret, its otpauth://
            URI and the recovery codes are printed here, once.
            """
        )

        @OptionGroup var options: CommonOptions

        @Option(help: "The person's work email: their sign-in name.")
        var email: String

        @Option(help: "ops or clinician.")
        var role: String

        @Option(help: "The team a clinician works in.")
        var team: String?

        @Flag(help: "Read the first password from standard input instead of printing a set-up link.")
        var passwordStdin = false

        func run() async throws {
            let email = try UserOptions.email(email)
            guard let role = Role(rawValue: role), role != .integration else {
                throw ValidationError("--role must be ops or clinician (systems use `rom tokens create --role integration`)")
            }
            if role == .clinician && (team ?? "").isEmpty { throw ValidationError("a clinician account needs --team TEAM") }
            let password = passwordStdin ? try UserOptions.readPassword(email: email) : nil
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let now = try options.clock()()
            let id = "u_" + newID()
            let secret = password == nil ? nil : StaffAuth.newTOTPSecret()
            let codes = secret == nil ? [] : StaffAuth.newRecoveryCodes()
            let link = password == nil ? Credentials.newSecret(prefix: "setup") : nil
            do {
                try await store.insertUser(id: id, email: email, role: role, team: role == .clinician ? team : nil,
                                           passwordHash: await password.asyncMap(StaffAuth.hashPassword), totpSecret: secret,
                                           recoveryCodeHashes: codes.map(StaffAuth.recoveryCodeHash),
                                           setupHash: link.map(Credentials.hash), setupExpiresAt: link.map { _ in now.addingTimeInterval(StaffAuth.setupLinkLifetime) },
                                           actor: "cli", now: now)
            } catch let error as StoreError {
                try await store.close()
                printError(error.description)
                throw ExitCode(1)
            }
            try await store.close()
            print("Account \(id) created for \(email), role \(role.rawValue)\(role == .clinician ? " in team \(team ?? "")" : "").")
            if let link {
                print("Set-up link (works once, for 72 hours): \(configuration.settings.publicURL)/account/setup/\(link)")
                print("Send it to \(email) only. Opening it sets their password and shows their authenticator key and recovery codes.")
            }
            if let secret { UserOptions.printMFA(secret: secret, email: email, codes: codes) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts: id, email, role, team, state, second factor, created, last sign-in.")

        @OptionGroup var options: CommonOptions

        @Option(help: "text or json.")
        var format: String = "text"

        func run() async throws {
            guard format == "text" || format == "json" else { throw ValidationError("--format must be text or json") }
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let users = try await store.users()
            try await store.close()
            let now = try options.clock()()
            let stamp = ISO8601DateFormatter()
            let rows = users.map { user -> [String: String] in
                let state = user.isDisabled ? "disabled" : user.passwordHash == nil ? "set-up pending"
                    : (user.lockedUntil.map { $0 > now } ?? false) ? "held back" : "active"
                return ["id": user.id, "email": user.email, "role": user.role.rawValue, "team": user.team ?? "", "state": state,
                        "mfa": user.totpSecret == nil ? "none" : "totp", "recovery_codes_left": String(user.recoveryCodesLeft),
                        "created": stamp.string(from: user.createdAt), "last_sign_in": user.lastSignInAt.map(stamp.string) ?? "never"]
            }
            try printRows(rows, key: "users", columns: ["id", "email", "role", "team", "state", "mfa", "recovery_codes_left", "created", "last_sign_in"],
                          format: format)
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account at once: it can no longer sign in and its sessions end.")

        @OptionGroup var options: CommonOptions

        @Option(help: "The account's email.")
        var email: String

        func run() async throws {
            let email = try UserOptions.email(email)
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let user = try await store.user(email: email)
            let done = try await user.asyncMap { try await store.disableUser(id: $0.id, actor: "cli", now: try options.clock()()) } ?? false
            try await store.close()
            guard done else {
                printError(user == nil ? "no account for \(email); `rom users list` shows every account" : "\(email) is disabled already")
                throw ExitCode(1)
            }
            print("Account \(email) disabled; its sessions have ended.")
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give an account a new password, a new authenticator, or both; its sessions end.",
            discussion: """
            By default the password is reset: the old one stops working and a new one-time set-up link is printed
            (with --password-stdin the new password is read from standard input instead). With --mfa the account gets
            a new TOTP secret and new recovery codes, printed once; the old codes stop working. --mfa alone keeps the
            password.
            """
        )

        @OptionGroup var options: CommonOptions

        @Option(help: "The account's email.")
        var email: String

        @Flag(help: "Read the new password from standard input instead of printing a set-up link.")
        var passwordStdin = false

        @Flag(help: "Issue a new authenticator secret and recovery codes (a lost phone).")
        var mfa = false

        func run() async throws {
            let email = try UserOptions.email(email)
            let resetPassword = passwordStdin || !mfa
            let password = passwordStdin ? try UserOptions.readPassword(email: email) : nil
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            guard let user = try await store.user(email: email), !user.isDisabled else {
                try await store.close()
                printError("no active account for \(email); `rom users list` shows every account")
                throw ExitCode(1)
            }
            let now = try options.clock()()
            var link: String?
            if resetPassword {
                if let password {
                    try await store.setPassword(userID: user.id, hash: await StaffAuth.hashPassword(password), actor: "cli", now: now)
                } else {
                    let secret = Credentials.newSecret(prefix: "setup")
                    try await store.resetPassword(userID: user.id, setupHash: Credentials.hash(secret),
                                                  setupExpiresAt: now.addingTimeInterval(StaffAuth.setupLinkLifetime), actor: "cli", now: now)
                    link = secret
                }
            }
            var secret: String?
            let codes = mfa ? StaffAuth.newRecoveryCodes() : []
            if mfa {
                secret = StaffAuth.newTOTPSecret()
                try await store.setMFA(userID: user.id, totpSecret: secret!, recoveryCodeHashes: codes.map(StaffAuth.recoveryCodeHash), actor: "cli", now: now)
            }
            try await store.close()
            print("Account \(email): \([resetPassword ? "password reset" : nil, mfa ? "new authenticator" : nil].compactMap { $0 }.joined(separator: ", ")); its sessions have ended.")
            if let link { print("Set-up link (works once, for 72 hours): \(configuration.settings.publicURL)/account/setup/\(link)") }
            if let secret { UserOptions.printMFA(secret: secret, email: email, codes: codes) }
        }
    }
}

enum UserOptions {
    static func email(_ text: String) throws -> String {
        let email = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard ContactRules.isEmail(email) else { throw ValidationError("--email `\(text)` is not an email address") }
        return email
    }

    /// The first line of standard input, checked against the password rules.
    static func readPassword(email: String) throws -> String {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("--password-stdin: no password on standard input (write it as one line)")
        }
        if let problem = StaffAuth.passwordProblem(line, email: email) { throw ValidationError("--password-stdin: \(problem)") }
        return line
    }

    static func printMFA(secret: String, email: String, codes: [String]) {
        print("TOTP secret (type it into an authenticator app as a time-based key): \(StaffAuth.base32(ofSecret: secret))")
        print("otpauth URI: \(StaffAuth.otpauthURI(secret: secret, email: email))")
        print("Recovery codes (each works once instead of a code; keep them safe):")
        for code in codes { print("  \(code)") }
        printError("These are shown once and cannot be shown again; `rom users reset --mfa` issues new ones.")
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

/// A listing as `{"KEY": [rows]}` JSON (`--format json`) or a text table.
func printRows(_ rows: [[String: String]], key: String, columns: [String], format: String) throws {
    if format == "json" {
        print(String(decoding: try JSONSerialization.data(withJSONObject: [key: rows], options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
    } else {
        printTable(columns, rows)
    }
}

/// A plain text table: a header row, then one line per row, columns padded to their widest cell.
func printTable(_ columns: [String], _ rows: [[String: String]]) {
    let widths = columns.map { column in max(column.count, rows.map { ($0[column] ?? "").count }.max() ?? 0) }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(columns))
    for row in rows { print(line(columns.map { row[$0] ?? "" })) }
}
