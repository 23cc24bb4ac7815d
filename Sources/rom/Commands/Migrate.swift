import ArgumentParser
import Foundation
import Logging
import ROMService
import Storage

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or update the database schema.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.load()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        let applied = try await store.migrate(now: try options.clock()())
        try await store.close()
        print(applied.isEmpty ? "Database is up to date (schema \(SQLStore.latestSchemaVersion))." : "Applied: \(applied.joined(separator: ", "))")
    }
}
