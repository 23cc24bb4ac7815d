import ArgumentParser
import Delivery
import Foundation
import Intake
import Logging
import ROMService
import Storage

struct Responses: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage responses.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import paper forms from a CSV file: stored, scored and flagged like any other response.",
            discussion: """
            Columns: id,person,instrument,completed_on,answers. `answers` lists the values in item order, separated by commas \\
            (in quotes) or spaces, with - for unanswered. Every bad row is reported with its row, column and reason; nothing \\
            is written unless every row is valid, or --partial is given. A form whose id was imported before is skipped.
            """
        )

        @OptionGroup var options: CommonOptions

        @Argument(help: "The CSV file.")
        var file: String

        @Flag(help: "Import the valid rows even when some rows are bad.")
        var partial = false

        func run() async throws {
            let configuration = try options.load()
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let env = try ServiceEnvironment.command(configuration: configuration, store: store, now: try options.clock(), logger: makeLogger(level: .warning))
            let outcome = try await ResponsesImporter(env: env).importCSV(String(decoding: data, as: UTF8.self), partial: partial)
            env.curl?.shutdown()
            try await store.close()
            for problem in outcome.problems { printError(problem.description) }
            print("Imported \(outcome.imported) responses; \(outcome.alreadyImported) already imported; \(outcome.problems.count) problem\(outcome.problems.count == 1 ? "" : "s").")
            if !outcome.problems.isEmpty { throw ExitCode(outcome.imported > 0 ? 2 : 1) }
        }
    }
}
