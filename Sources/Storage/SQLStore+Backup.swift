public import Foundation
import SQLKit

/// What a backup file holds, checked before anyone relies on it.
public struct BackupReport: Sendable, Equatable {
    /// `ok`, or SQLite's first integrity problem.
    public var integrity: String
    public var schemaVersion: Int
    /// Table → rows.
    public var rows: [String: Int]
}

extension SQLStore {
    /// A consistent copy of the SQLite database at one instant, taken while the service runs (`VACUUM INTO` reads one
    /// snapshot; writers carry on under WAL). Written beside `path` and renamed into place, so a half-written backup
    /// never has the final name. PostgreSQL is backed up with `pg_dump` (README).
    public func backup(to path: String) async throws {
        guard engine == .sqlite, filePath != nil else {
            throw StoreError.unsupported("`rom backup` copies a SQLite file; back up PostgreSQL with pg_dump --format=custom (README)")
        }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError.duplicate("\(path) exists already; choose a new file name (a backup never overwrites one)")
        }
        let partial = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: partial)
        try await read { db in
            try await db.raw("VACUUM INTO \(bind: partial)").run()
        }
        try FileManager.default.moveItem(atPath: partial, toPath: path)
    }

    /// Integrity, schema version and row counts of the tables that matter, for `rom restore FILE --check`.
    public func inspect() async throws -> BackupReport {
        try await read { db in
            let integrity = engine == .sqlite
                ? try await db.raw("PRAGMA integrity_check").first()?.decode(column: "integrity_check", as: String.self) ?? "no answer"
                : "ok"
            let version = try await db.raw("SELECT MAX(version) AS v FROM schema_migrations").first()?.decode(column: "v", as: Int?.self) ?? 0
            var rows: [String: Int] = [:]
            for table in ["people", "enrolments", "reviews", "prompts", "responses", "scores", "flags", "inbound_replies", "outbox_messages",
                          "audit_events", "staff_users"] {
                rows[table] = try await db.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()?.decode(column: "n", as: Int.self) ?? 0
            }
            return BackupReport(integrity: integrity, schemaVersion: version, rows: rows)
        }
    }
}
