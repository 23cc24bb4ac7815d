import ArgumentParser
import Foundation
import Logging
import ROMService
import Scheduling
import Storage

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage bearer tokens for API clients and scripts (staff sign in with `rom users` accounts).", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it once; only its SHA-256 is stored.",
            discussion: """
            Clinician tokens need --team: a clinician sees only their own team's people. Tokens expire after --expires
            (90d by default; `never` only when asked for, e.g. for a monitored integration); `rom tokens revoke ID`
            ends one at once. Staff sign in to the browser pages with an account (`rom users`), not a token.
            """
        )

        @OptionGroup var options: CommonOptions

        @Option(help: "ops, clinician or integration.")
        var role: String

        @Option(help: "The team a clinician works in.")
        var team: String?

        @Option(help: "A note to recognise the token by, e.g. the person's name or the system.")
        var label: String?

        @Option(help: "How long it works: a duration such as 90d, 12w or 36h, or never.")
        var expires: String = "90d"

        func run() async throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role must be ops, clinician or integration")
            }
            if role == .clinician && (team ?? "").isEmpty {
                throw ValidationError("a clinician token needs --team TEAM")
            }
            let lifetime: TimeSpan?
            if expires == "never" { lifetime = nil } else {
                guard let span = TimeSpan.parse(expires), span.seconds > 0 else {
                    throw ValidationError("--expires `\(expires)` is not a duration; write e.g. 90d, 12w or 36h, or never")
                }
                lifetime = span
            }
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
            let id = newID()
            let now = try options.clock()()
            let expiresAt = lifetime.map { now.addingTimeInterval(TimeInterval($0.seconds)) }
            try await store.insertToken(id: id, hash: Credentials.hash(secret), role: role, team: team, label: label, expiresAt: expiresAt, now: now)
            try await store.close()
            print(secret)
            printError("Token \(id) created for role \(role.rawValue)\(team.map { " in team \($0)" } ?? ""), \(expiresAt.map { "expires \(ISO8601DateFormatter().string(from: $0))" } ?? "never expires"). Copy it now: it is not shown again.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens: id, label, role, team, created, last used, expires, state (never the secret).")

        @OptionGroup var options: CommonOptions

        @Option(help: "text or json.")
        var format: String = "text"

        func run() async throws {
            guard format == "text" || format == "json" else { throw ValidationError("--format must be text or json") }
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let tokens = try await store.tokens()
            try await store.close()
            let now = try options.clock()()
            let stamp = ISO8601DateFormatter()
            func state(_ token: APIToken) -> String {
                if token.revokedAt != nil { return "revoked" }
                if let expires = token.expiresAt, expires <= now { return "expired" }
                return "active"
            }
            let rows = tokens.map { token in
                ["id": token.id, "label": token.label ?? "", "role": token.role.rawValue, "team": token.team ?? "",
                 "created": stamp.string(from: token.createdAt), "last_used": token.lastUsedAt.map(stamp.string) ?? "never",
                 "expires": token.expiresAt.map(stamp.string) ?? "never", "state": state(token)]
            }
            try printRows(rows, key: "tokens", columns: ["id", "label", "role", "team", "created", "last_used", "expires", "state"], format: format)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once.")

        @OptionGroup var options: CommonOptions

        @Argument(help: "The token's id, as `rom tokens list` shows it.")
        var id: String

        func run() async throws {
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let revoked = try await store.revokeToken(id: id, now: try options.clock()())
            try await store.close()
            guard revoked else {
                printError("no active token `\(id)`; `rom tokens list` shows every token and its state")
                throw ExitCode(1)
            }
            print("Token \(id) revoked.")
        }
    }
}
