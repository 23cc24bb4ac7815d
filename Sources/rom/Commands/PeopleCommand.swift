import ArgumentParser
import Foundation
import Logging
import Glibc
import Intake
import Prometheus
import ROMService
import Storage

struct PeopleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "people", abstract: "Manage people.",
                                                    subcommands: [Import.self, EraseContact.self, Export.self])

    /// The store and environment a people command works on, with the configuration and clock of its options.
    static func environment(_ options: CommonOptions) async throws -> ServiceEnvironment {
        let configuration = try options.load()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        try await store.checkReady()
        return try ServiceEnvironment(configuration: configuration, store: store, now: try options.clock(), metrics: .init(), logger: makeLogger(level: .warning))
    }

    struct EraseContact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "erase-contact",
            abstract: "Erase a person's phone and email everywhere they are stored, and stop all contact.",
            discussion: """
            The contact points' addresses are blanked, every raw reply that carries one has it replaced by [erased]
            (the rest of the reply is kept), sandbox copies of messages to the person are blanked, and nothing more is
            sent to them. The care record — responses, scores, flags, reviews, notes and the audit trail — is kept, as
            the records code requires. Audited as person.erase_contact. Cannot be undone: a new address comes back
            only through a new import or the API.
            """
        )

        @OptionGroup var options: CommonOptions

        @Argument(help: "The person's id.")
        var id: String

        func run() async throws {
            let env = try await PeopleCommand.environment(options)
            let report = try await SubjectAccess(env: env).eraseContact(personID: id, actor: "cli")
            try await env.store.close()
            guard let report else {
                printError("no person `\(id)`; GET /api/v1/people lists the people")
                throw ExitCode(1)
            }
            func count(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }
            print("Erased the contact details of \(id): \(count(report.addresses, "address", "addresses")), \(count(report.rawReplies, "raw reply", "raw replies")) redacted, \(count(report.sandboxMessages, "sandbox message", "sandbox messages")) blanked; \(count(report.queuedMessages, "queued message", "queued messages")) will not be sent.")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a person's whole record as JSON, for a subject access request.",
            discussion: """
            One JSON document: the person with their channels and consent, their reviews, a FHIR R4 Bundle of every
            response and score, the raw replies as received, the messages sent and the audit of who read or changed
            the record. The export is audited (person.export) and lists itself.
            """
        )

        @OptionGroup var options: CommonOptions

        @Argument(help: "The person's id.")
        var id: String

        @Option(name: .shortAndLong, help: "Write to this file instead of standard output (created with mode 600; never overwritten).")
        var output: String?

        func run() async throws {
            let env = try await PeopleCommand.environment(options)
            if let output, FileManager.default.fileExists(atPath: output) {
                try await env.store.close()
                throw ValidationError("\(output) exists; choose a new file name")
            }
            let data = try await SubjectAccess(env: env).export(personID: id, actor: "cli")
            try await env.store.close()
            guard let data else {
                printError("no person `\(id)`")
                throw ExitCode(1)
            }
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: data, attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(output)")
                }
                printError("Wrote the record of \(id) to \(output)")
            } else {
                FileHandle.standardOutput.write(data)
                print()
            }
        }
    }

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
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            let env = try await PeopleCommand.environment(options)
            let store = env.store
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
