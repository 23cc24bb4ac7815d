public import Foundation
public import Logging
import Scheduling
import NIOPosix
public import SQLKit
import SQLiteKit
import SQLiteNIO

/// The service's records over SQLKit: one implementation, SQLite by default.
///
/// SQLite runs in WAL mode with `synchronous=FULL` and a 5 s busy timeout; every transaction
/// starts with `BEGIN IMMEDIATE` so a read-then-write never fails half way on a lock upgrade.
/// Operations share one connection, taken in turn through an async lock.
public final class SQLStore: Sendable {
    public let engine: Engine
    private let database: any SQLDatabase
    private let connection: SQLiteConnection?
    private let mutex = AsyncMutex()
    private let logger: Logger
    /// The SQLite file; nil in memory.
    let filePath: String?

    private init(engine: Engine, database: any SQLDatabase, connection: SQLiteConnection?, filePath: String?, logger: Logger) {
        self.engine = engine
        self.database = database
        self.connection = connection
        self.filePath = filePath
        self.logger = logger
    }

    /// Opens the database named by `url` (`sqlite:PATH` or `sqlite::memory:`), creating the SQLite file and its folder.
    public static func open(url: String, logger: Logger) async throws -> SQLStore {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            throw StoreError.unsupported("PostgreSQL is the scale-out path and is not wired into this build yet; use sqlite:PATH")
        }
        guard url.hasPrefix("sqlite:") else {
            throw StoreError.unsupported("`\(url)` is not a database URL; use sqlite:var/rom.sqlite")
        }
        let path = String(url.dropFirst("sqlite:".count))
        let storage: SQLiteConnection.Storage
        if path == ":memory:" {
            storage = .memory
        } else {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            storage = .file(path: path)
        }
        let connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        let database = connection.sql(queryLogLevel: nil)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY"] {
            try await database.raw(SQLQueryString(pragma)).run()
        }
        return SQLStore(engine: .sqlite, database: database, connection: connection, filePath: path == ":memory:" ? nil : path, logger: logger)
    }

    /// A command that fails before `close()` (say, on an unmigrated database) must still end cleanly: start the
    /// close here. The pending close keeps the connection alive until SQLite has released the file.
    deinit {
        if let connection, !connection.isClosed {
            _ = connection.close()
        }
    }

    /// Closes the connection; the store cannot be used afterwards.
    public func close() async throws {
        try await connection?.close()
    }

    // MARK: - Sessions and transactions

    /// Runs `body` with the connection held, outside a transaction (for reads).
    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        await mutex.lock()
        do {
            let result = try await body(database)
            await mutex.unlock()
            return result
        } catch {
            await mutex.unlock()
            throw error
        }
    }

    /// Runs `body` in one transaction: all of it is written, or none of it.
    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        await mutex.lock()
        do {
            try await database.raw(engine == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN").run()
        } catch {
            await mutex.unlock()
            throw error
        }
        do {
            let result = try await body(database)
            try await database.raw("COMMIT").run()
            await mutex.unlock()
            return result
        } catch {
            do { try await database.raw("ROLLBACK").run() } catch { logger.error("rollback failed", metadata: ["error": "\(error)"]) }
            await mutex.unlock()
            throw error
        }
    }

    // MARK: - Schema

    /// Applies every migration not yet applied, in order, each in its own transaction; returns what was applied.
    @discardableResult
    public func migrate(now: Date) async throws -> [String] {
        try await read { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)").run()
        }
        let applied = Set(try await read { db in
            try await db.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) }
        })
        var done: [String] = []
        for migration in migrations where !applied.contains(migration.version) {
            let engine = self.engine
            try await transaction { db in
                for statement in migration.statements(engine) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                try await db.raw("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: now.millis))").run()
            }
            done.append("\(migration.version) \(migration.name)")
        }
        return done
    }

    /// The newest migration applied, or nil for an empty database.
    public func schemaVersion() async throws -> Int? {
        try await read { db in
            let exists = try await db.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").first()
            guard exists != nil else { return nil }
            return try await db.raw("SELECT MAX(version) AS version FROM schema_migrations").first()?.decode(column: "version", as: Int?.self)
        }
    }

    /// The version the code expects.
    public static var latestSchemaVersion: Int { migrations.last?.version ?? 0 }

    /// Connection settings actually in force, for `/readyz` and tests.
    public func pragmas() async throws -> [String: String] {
        try await read { db in
            var values: [String: String] = [:]
            for name in ["journal_mode", "synchronous", "busy_timeout", "foreign_keys"] {
                if let row = try await db.raw(SQLQueryString("PRAGMA " + name)).first() {
                    let column = row.allColumns.first ?? name
                    if let text = try? row.decode(column: column, as: String.self) {
                        values[name] = text
                    } else if let number = try? row.decode(column: column, as: Int.self) {
                        values[name] = String(number)
                    }
                }
            }
            return values
        }
    }

    /// Checks the database answers a query and is migrated.
    public func checkReady() async throws {
        guard let version = try await schemaVersion(), version >= Self.latestSchemaVersion else {
            throw StoreError.notMigrated
        }
    }
}

/// Why the store cannot do what was asked.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case unsupported(String)
    case notMigrated
    case duplicate(String)
    case notFound(String)
    /// Another process dispatches from this SQLite file (its note: who and which pid).
    case dispatcherRunning(String)

    public var description: String {
        switch self {
        case .dispatcherRunning(let holder):
            return "another dispatcher is running on this database (\(holder)); on SQLite only one may run: stop it first, or use one `rom serve`"
        case .unsupported(let message): return message
        case .notMigrated: return "the database is not migrated to the current schema; run `rom migrate`"
        case .duplicate(let message): return message
        case .notFound(let message): return message
        }
    }
}

extension Date {
    /// Milliseconds since 1970 UTC, as stored.
    public var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(millis: Int64) {
        self.init(timeIntervalSince1970: Double(millis) / 1000)
    }
}

/// An identifier for rows, 25 characters of base 36: 9 for the creation millisecond, then 16 random (82 bits).
///
/// Ids made close together sort together, so rows written together (a batch of prompts, their outbox rows and
/// transitions) share B-tree pages in every index keyed by id, instead of landing on a random page each: a batch
/// of outbox updates then dirties a few pages rather than one per row, which is most of what SQLite writes to the
/// WAL. The time part is the machine's clock, not the service's `now`: it orders storage and means nothing else.
/// Ids are not secrets (tokens and link keys come from `Credentials` and `LinkSigner`).
public func newID() -> String {
    var characters = [UInt8](repeating: 0, count: 25)
    var clock = timespec()
    clock_gettime(CLOCK_REALTIME, &clock)
    var stamp = UInt64(clock.tv_sec) &* 1000 &+ UInt64(clock.tv_nsec / 1_000_000)
    // 36^9 ms reach the year 5138.
    for index in stride(from: 8, through: 0, by: -1) {
        characters[index] = idAlphabet[Int(stamp % 36)]
        stamp /= 36
    }
    var generator = SystemRandomNumberGenerator()
    var random = generator.next() as UInt64
    var more = generator.next() as UInt64
    // 16 digits: 12 from the first draw (36^12 < 2^63), 4 from the second.
    for index in stride(from: 24, through: 13, by: -1) {
        characters[index] = idAlphabet[Int(random % 36)]
        random /= 36
    }
    for index in stride(from: 12, through: 9, by: -1) {
        characters[index] = idAlphabet[Int(more % 36)]
        more /= 36
    }
    return String(decoding: characters, as: UTF8.self)
}

private let idAlphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
