import ArgumentParser
import Foundation
import Logging
import ROMService
import Storage

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the SQLite database to FILE, consistently, while the service runs.",
        discussion: "For PostgreSQL use pg_dump (see README). Check a backup with `rom restore FILE --check`."
    )

    @OptionGroup var options: CommonOptions

    @Argument(help: "The new backup file (never overwritten).")
    var file: String

    func run() async throws {
        let configuration = try options.load()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        do {
            try await store.backup(to: file)
        } catch let error as StoreError {
            try await store.close()
            printError(error.description)
            throw ExitCode(1)
        }
        try await store.close()
        let checked = try await Restore.check(file)
        print("Backup written to \(file): integrity \(checked.integrity), schema \(checked.schemaVersion), \(checked.rows["responses"] ?? 0) responses, \(checked.rows["audit_events"] ?? 0) audit events.")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a backup before restoring it: integrity, schema version and row counts.",
        discussion: """
        To restore, stop every `rom serve`, move the database file aside and copy the checked backup into its place
        (`rom migrate` then brings an older backup up to date). Only --check is done by this command: replacing a
        live database file is never done while the service may hold it open.
        """
    )

    @Argument(help: "The backup file.")
    var file: String

    @Flag(help: "Check the file and print what it holds (required).")
    var check = false

    static func check(_ file: String) async throws -> BackupReport {
        guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("\(file) does not exist") }
        let store = try await SQLStore.open(url: "sqlite:\(file)", logger: makeLogger(level: .warning))
        do {
            let report = try await store.inspect()
            try await store.close()
            return report
        } catch {
            try? await store.close()
            throw error
        }
    }

    func run() async throws {
        guard check else { throw ValidationError("only --check is done here; see `rom restore --help` for how to restore") }
        let report = try await Self.check(file)
        print("integrity: \(report.integrity)")
        print("schema: \(report.schemaVersion) (this rom: \(SQLStore.latestSchemaVersion)\(report.schemaVersion < SQLStore.latestSchemaVersion ? "; run rom migrate after restoring" : ""))")
        for (table, count) in report.rows.sorted(by: { $0.key < $1.key }) { print("\(table): \(count)") }
        guard report.integrity == "ok", report.schemaVersion <= SQLStore.latestSchemaVersion else {
            printError(report.integrity != "ok" ? "the backup is damaged: \(report.integrity)" : "the backup is from a newer rom (schema \(report.schemaVersion))")
            throw ExitCode(1)
        }
    }
}
