import ArgumentParser
import Foundation
import Logging
import ROMService
import Storage

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage staff and system access tokens.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it once; only its SHA-256 is stored.",
            discussion: "Clinician tokens need --team: a clinician sees only their own team's people."
        )

        @OptionGroup var options: CommonOptions

        @Option(help: "ops, clinician or integration.")
        var role: String

        @Option(help: "The team a clinician works in.")
        var team: String?

        @Option(help: "A note to recognise the token by, e.g. the person's name or the system.")
        var label: String?

        func run() async throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role must be ops, clinician or integration")
            }
            if role == .clinician && (team ?? "").isEmpty {
                throw ValidationError("a clinician token needs --team TEAM")
            }
            let configuration = try options.load()
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
            let id = newID()
            try await store.insertToken(id: id, hash: Credentials.hash(secret), role: role, team: team, label: label, now: try options.clock()())
            try await store.close()
            print(secret)
            printError("Token \(id) created for role \(role.rawValue)\(team.map { " in team \($0)" } ?? ""). Copy it now: it is not shown again.")
        }
    }
}
