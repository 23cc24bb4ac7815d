import ArgumentParser
import Foundation
import Logging
import Glibc
import Intake
import Prometheus
import ROMService
import Storage

struct PeopleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "people", abstract: "Manage people.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import people from a CSV file.",
            discussion: """
            Columns: id,given_name,phone,email,timezone,pathway,start_date,clinician,team (phone in E.164).
            Every bad row is reported with its row number, column and reason. By default nothing is written
            unless every row is valid; with --partial the valid rows are written, in one transaction.
            """
        )

        @OptionGroup var options: CommonOptions

        @Argument(help: "The CSV file.")
        var file: String

        @Flag(help: "Write the valid rows even when some rows are bad.")
        var partial = false

        func run() async throws {
            let configuration = try options.load()
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
            try await store.checkReady()
            let env = try ServiceEnvironment(configuration: configuration, store: store, now: try options.clock(),
                                             metrics: .init(), logger: makeLogger(level: .warning))
            let terminal = isatty(STDERR_FILENO) != 0
            if terminal { printError("Reading \(file)…") }
            let outcome = try await PeopleImporter(env: env).importCSV(String(decoding: data, as: UTF8.self), partial: partial) { done, total in
                if terminal { FileHandle.standardError.write(Data("\rValidated \(done)/\(total) rows\(done == total ? "\n" : "")".utf8)) }
            }
            try await store.close()
            for problem in outcome.problems { printError(problem.description) }
            if outcome.problems.isEmpty {
                print("Imported \(outcome.imported) people.")
            } else if partial {
                print("Imported \(outcome.imported) people; \(outcome.problems.count) problem\(outcome.problems.count == 1 ? "" : "s") in rows not imported.")
                throw ExitCode(2)
            } else {
                print("Nothing imported: \(outcome.problems.count) problem\(outcome.problems.count == 1 ? "" : "s"). Fix the rows, or use --partial to import the valid ones.")
                throw ExitCode(1)
            }
        }
    }
}
