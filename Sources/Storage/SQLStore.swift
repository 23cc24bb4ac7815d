public import Foundation
public import Logging
import Scheduling
import Synchronization
public import SQLKit
import PostgresKit
import PostgresNIO

/// The service's records over SQLKit: one implementation for SQLite (the default) and PostgreSQL (several instances).
///
/// SQLite runs in WAL mode with `synchronous=FULL` and a 5 s busy timeout; every transaction starts with
/// `BEGIN IMMEDIATE` so a read-then-write never fails half way on a lock upgrade, and operations share one connection,
/// taken in turn. PostgreSQL runs over a pool of connections; every transaction is SERIALIZABLE and retried when the
/// server reports a serialization failure, so each behaves as if it ran alone, as on SQLite.
public final class SQLStore: Sendable {
    public let engine: Engine
    private let database: (any SQLDatabase)?
    private let sqlite: SQLiteDriver?
    private let postgres: PostgresClient?
    /// When a caller last got a pooled connection: while others are served, a slow lease means busy, not down.
    private let leases = LeaseClock()
    /// The pool on PostgreSQL; nil on SQLite.
    var postgresClient: PostgresClient? { postgres }
    private let poolRunner: Task<Void, Never>?
    let mutex = AsyncMutex()
    /// True in the dispatcher's passes and the service's scheduler ticks (set by `OutboxWorker.runOnce` and the
    /// scheduler service: nobody waits on them): on SQLite such a caller waiting for the connection does not make a
    /// write in steps (`transactions(isolation:_:)`) commit before its `maxHold`.
    @TaskLocal public static var backgroundWork = false

    /// SQLite transactions committed by this store (each an fsync): the figure the benchmarks report per message.
    private let commits = Atomic<Int>(0)
    public var committedTransactions: Int { commits.load(ordering: .relaxed) }
    private let logger: Logger
    /// The SQLite file; nil in memory and on PostgreSQL.
    let filePath: String?

    private init(engine: Engine, database: (any SQLDatabase)?, sqlite: SQLiteDriver?, postgres: PostgresClient? = nil,
                 filePath: String?, logger: Logger) {
        self.engine = engine
        self.database = database
        self.sqlite = sqlite
        self.postgres = postgres
        self.poolRunner = postgres.map { client in Task { await client.run() } }
        self.filePath = filePath
        self.logger = logger
    }

    /// Opens the database named by `url`: `sqlite:PATH` (the SQLite file and its folder are created), `sqlite::memory:`,
    /// or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`.
    public static func open(url: String, logger: Logger) async throws -> SQLStore {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            // The pool logs a warning when asked for a connection before its run loop has started, which is normal here.
            var poolLogger = logger
            poolLogger.logLevel = max(logger.logLevel, .error)
            let configuration = try postgresConfiguration(url)
            let store = SQLStore(engine: .postgres, database: nil, sqlite: nil,
                                 postgres: PostgresClient(configuration: configuration, backgroundLogger: poolLogger), filePath: nil, logger: logger)
            try await store.probe(within: .seconds(10), server: "\(configuration.host ?? "?"):\(configuration.port ?? 5432)")
            return store
        }
        guard url.hasPrefix("sqlite:") else {
            throw StoreError.unsupported("`\(url)` is not a database URL; use sqlite:var/rom.sqlite or postgres://user@host:5432/rom")
        }
        let path = String(url.dropFirst("sqlite:".count))
        if path != ":memory:" {
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
        }
        let driver = try await SQLiteDriver.open(path: path == ":memory:" ? nil : path)
        let database = SQLiteDriverDatabase(driver: driver, logger: logger)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON", "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY"] {
            try await database.raw(SQLQueryString(pragma)).run()
        }
        return SQLStore(engine: .sqlite, database: database, sqlite: driver, filePath: path == ":memory:" ? nil : path, logger: logger)
    }

    /// One query through the pool, or a clear error: the pool itself waits and retries for ever when the server is
    /// down or refuses the login, which would leave a command hanging without a word.
    private func probe(within limit: Duration, server: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            do {
                _ = try await read { db in try await db.raw("SELECT 1 AS one").first() }
                return
            } catch StoreError.unavailable where clock.now < deadline {
                continue
            } catch StoreError.unavailable {
                try? await close()
                throw StoreError.database("no connection to PostgreSQL at \(server) within \(limit): is it running, and do the user, password, database and sslmode in the URL match?")
            }
        }
    }

    /// The pool's settings from a `postgres://` URL; a clear error naming what is wrong.
    /// The URL's `sslmode`, or the default: off this machine the connection carries health records, so TLS is
    /// required unless the URL says otherwise; on loopback it is preferred.
    static func sslMode(_ parts: URLComponents, host: String) -> String {
        let loopback = ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host) || host.hasPrefix("127.") || host.hasPrefix("/")
        return parts.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? (loopback ? "prefer" : "require")
    }

    static func postgresConfiguration(_ url: String) throws -> PostgresClient.Configuration {
        guard let parts = URLComponents(string: url), let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty else {
            throw StoreError.unsupported("`\(url)` is not a PostgreSQL URL; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        let tls: PostgresClient.Configuration.TLS
        switch sslMode(parts, host: host) {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw StoreError.unsupported("sslmode=\(other) in the database URL: use disable, prefer or require")
        }
        var configuration = PostgresClient.Configuration(host: host, port: parts.port ?? 5432, username: user,
                                                         password: parts.password?.removingPercentEncoding, database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 8
        return configuration
    }

    /// A command that fails before `close()` (say, on an unmigrated database) must still end cleanly: the SQLite
    /// driver closes its connection when the last reference goes (its deinit).
    deinit {
        poolRunner?.cancel()
    }

    /// Closes the connection (or the pool); the store cannot be used afterwards.
    public func close() async throws {
        try await sqlite?.close()
        if let poolRunner {
            poolRunner.cancel()
            await poolRunner.value
        }
    }

    // MARK: - Sessions and transactions

    /// Runs `body` with a connection held, outside a transaction (for reads).
    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        if let postgres {
            do {
                return try await connection(postgres) { connection in try await body(connection.sql(queryLogLevel: nil)) }
            } catch {
                throw Self.readable(error)
            }
        }
        let database = database!
        let mutex = mutex
        // The lock and the whole body on the connection's thread: the body's statements run there one after another,
        // with no hop between them.
        return try await withTaskExecutorPreference(sqlite!.executor) {
            await mutex.lock(background: Self.backgroundWork)
            defer { mutex.unlock() }
            return try await body(database)
        }
    }

    /// True when called on the SQLite connection's own thread (where `read` and `transaction` run their bodies).
    var onConnectionThread: Bool { sqlite?.loop.inEventLoop ?? false }

    /// Statements the SQLite driver has prepared (tests; read inside `read` or `transaction`, on the connection's thread).
    var statementsPrepared: Int { sqlite?.prepares ?? 0 }

    /// The SQLite connection's thread as a task executor (for tests that queue work behind a running transaction).
    var connectionExecutor: (any TaskExecutor)? { sqlite?.executor }

    /// Rows written at once from which the planner's statistics are refreshed (see `refreshStatistics`).
    public static let bulkRows = 1_000

    /// After a bulk write (an import, a tick that wrote thousands of rows) PostgreSQL's planner statistics are stale
    /// until autovacuum's next analyze: with a fresh import counted as a few hundred enrolments, it chose a bitmap scan
    /// and sorted every remaining enrolment for each page of the first tick (15 s of reads for 100,000 people instead
    /// of 1 s). `ANALYZE` samples a bounded number of rows, so this costs a fraction of a second at any size. SQLite
    /// keeps no statistics unless asked and plans from its indexes; nothing to do there. A failure is logged, not
    /// thrown: the write it follows is committed.
    public func refreshStatistics(_ tables: [String]) async {
        guard engine == .postgres else { return }
        do {
            try await read { db in try await db.raw("ANALYZE \(unsafeRaw: tables.joined(separator: ", "))").run() }
        } catch {
            logger.warning("refreshing the planner's statistics failed", metadata: ["tables": "\(tables.joined(separator: ","))"])
        }
    }

    /// Runs `body` in one transaction: all of it is written, or none of it. On PostgreSQL the transaction is
    /// SERIALIZABLE, and `body` runs again (up to 20 times) when the server reports a conflict with a concurrent one.
    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await transaction(isolation: .serializable, body)
    }

    /// How a PostgreSQL transaction is isolated (SQLite's are always serial).
    public enum Isolation: String, Sendable {
        /// As if alone: the default, retried on conflict.
        case serializable = "SERIALIZABLE"
        /// For the outbox claim and record, written to be safe with row locks (`FOR UPDATE SKIP LOCKED` and a
        /// per-person advisory lock): many dispatchers claim side by side without aborting each other.
        case readCommitted = "READ COMMITTED"
    }

    /// Runs `body` in one transaction at `isolation` on PostgreSQL.
    public func transaction<T: Sendable>(isolation: Isolation, _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        if let postgres {
            do {
                return try await postgresTransaction(postgres, isolation: isolation, body)
            } catch {
                throw Self.readable(error)
            }
        }
        let database = database!
        let logger = logger
        let mutex = mutex
        // The lock, BEGIN, the body and COMMIT (or ROLLBACK) on the connection's thread, as in `read`.
        return try await withTaskExecutorPreference(sqlite!.executor) { () async throws -> T in
            await mutex.lock(background: Self.backgroundWork)
            defer { mutex.unlock() }
            try await database.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(database)
                try await database.raw("COMMIT").run()
                self.commits.add(1, ordering: .relaxed)
                return result
            } catch {
                do { try await database.raw("ROLLBACK").run() } catch { logger.error("rollback failed", metadata: ["error": "\(error)"]) }
                throw error
            }
        }
    }

    /// What one step of `transactions(isolation:_:)` did.
    public enum Step<T: Sendable>: Sendable {
        /// Its result; more steps follow.
        case more(T)
        /// Its result; it was the last.
        case last(T)
        /// Nothing was left to do (nothing is added to the results).
        case finished
    }

    /// How long a SQLite write transaction of `transactions(isolation:_:)` stays open across steps when only background
    /// work waits for the connection, or nobody (another process's writer waits up to `busy_timeout`, 5 s).
    public static let longestSteppedWrite: Duration = .milliseconds(100)

    /// Runs `step` until it says it was the last, each step all or nothing, in as few commits as the database's other
    /// users allow: a large write in steps of a bounded size (a batch's claims, its outcomes). `step` gets the results
    /// so far.
    ///
    /// On SQLite a commit is an fsync, and one writer holds the connection for a whole transaction. So the transaction
    /// stays open from step to step while nobody waits for the connection, and commits after the step during which
    /// someone began to wait (a webhook storing a reply, a page), letting them in before the next step begins in a
    /// transaction of its own: the wait is one step, never the whole write (R39). Background work waiting (the other
    /// dispatcher pass, a scheduler tick: marked by `backgroundWork`) waits `maxHold` at most (default `longestSteppedWrite`), as other
    /// processes' writers do. A failing step rolls back itself and the steps since the last commit, and the error
    /// reaches the caller (the steps committed before stay committed; their results are lost with the error, as when
    /// each step was a call of its own). On PostgreSQL, where writers go side by side, each step is a transaction.
    public func transactions<T: Sendable>(isolation: Isolation = .serializable, maxHold: Duration = SQLStore.longestSteppedWrite,
                                          _ step: @Sendable (any SQLDatabase, _ done: [T]) async throws -> Step<T>) async throws -> [T] {
        var done: [T] = []
        if postgres != nil {
            while true {
                let snapshot = done
                switch try await transaction(isolation: isolation, { db in try await step(db, snapshot) }) {
                case .more(let result): done.append(result)
                case .last(let result): return done + [result]
                case .finished: return done
                }
            }
        }
        let database = database!
        let logger = logger
        let mutex = mutex
        return try await withTaskExecutorPreference(sqlite!.executor) { () async throws -> [T] in
            await mutex.lock(background: Self.backgroundWork)
            defer { mutex.unlock() }
            let clock = ContinuousClock()
            try await database.raw("BEGIN IMMEDIATE").run()
            var opened = clock.now
            do {
                while true {
                    let outcome = try await step(database, done)
                    switch outcome {
                    case .more(let result): done.append(result)
                    case .last(let result): done.append(result)
                    case .finished: break
                    }
                    guard case .more = outcome else { break }
                    // The steps run on the connection's thread without suspending, so whoever wants the connection
                    // meanwhile has not reached the lock yet: their job waits in the thread's queue. Going to the
                    // back of that queue lets them get in line, where the lock sees them.
                    await Task.yield()
                    if mutex.contendedInForeground || clock.now - opened >= maxHold {
                        try await database.raw("COMMIT").run()
                        self.commits.add(1, ordering: .relaxed)
                        // `unlock` hands the connection to the first in line; this writer queues behind them.
                        mutex.unlock()
                        await mutex.lock(background: Self.backgroundWork)
                        try await database.raw("BEGIN IMMEDIATE").run()
                        opened = clock.now
                    }
                }
                try await database.raw("COMMIT").run()
                self.commits.add(1, ordering: .relaxed)
                return done
            } catch {
                do { try await database.raw("ROLLBACK").run() } catch { logger.error("rollback failed", metadata: ["error": "\(error)"]) }
                throw error
            }
        }
    }

    private func postgresTransaction<T: Sendable>(_ postgres: PostgresClient, isolation: Isolation,
                                                  _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await connection(postgres) { connection in
            let db = connection.sql(queryLogLevel: nil)
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await db.raw("BEGIN ISOLATION LEVEL \(unsafeRaw: isolation.rawValue)").run()
                    let result = try await body(db)
                    try await db.raw("COMMIT").run()
                    return result
                } catch {
                    do { try await db.raw("ROLLBACK").run() } catch { logger.error("rollback failed", metadata: ["error": "\(Self.readable(error))"]) }
                    guard attempt < 20, Self.isSerializationFailure(error) else { throw error }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
                }
            }
        }
    }

    /// How long a caller waits for a PostgreSQL connection before `StoreError.unavailable` when nobody else is getting
    /// one either: the pool itself waits for ever while the server is down, which would leave every request, probe and
    /// webhook hanging. While other callers are being served the database is up and merely busy, so a caller waits
    /// on, up to `busyDeadline`. Once a connection is held, the work on it has no deadline.
    static let connectionDeadline: Duration = .seconds(2)
    static let busyDeadline: Duration = .seconds(30)

    /// Runs `body` on a pooled connection, or throws `StoreError.unavailable` when none is to be had in time.
    func connection<T: Sendable>(_ postgres: PostgresClient, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leased = LeaseFlag()
        let leases = self.leases
        return try await withoutActuallyEscaping(body) { body in
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await postgres.withConnection { connection in
                        leased.set()
                        leases.mark()
                        return try await body(connection)
                    }
                }
                group.addTask {
                    let clock = ContinuousClock()
                    let started = clock.now
                    try await Task.sleep(for: Self.connectionDeadline)
                    while !leased.isSet {
                        if !leases.served(within: Self.connectionDeadline) || clock.now - started > Self.busyDeadline {
                            throw StoreError.unavailable("no database connection within \(clock.now - started)")
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return nil
                }
                do {
                    while let result = try await group.next() {
                        if let result {
                            group.cancelAll()
                            return result
                        }
                    }
                } catch {
                    group.cancelAll()
                    throw error
                }
                throw StoreError.unavailable("no database connection")
            }
        }
    }

    /// PostgresNIO hides a server error's text (it may hold data); say at least its SQLSTATE and message, which
    /// name the problem without the values involved.
    /// A lost connection, a server shutting down or refusing connections (SQLSTATE classes 08 and 57P) is
    /// `StoreError.unavailable`: the caller answers 503 and tries again, and the pool reconnects when the server is back.
    static func readable(_ error: any Error) -> any Error {
        guard let error = error as? PSQLError else { return error }
        if let info = error.serverInfo {
            let state = info[.sqlState] ?? "?"
            if state.hasPrefix("08") || state.hasPrefix("57P") { return StoreError.unavailable("PostgreSQL error \(state)") }
            return StoreError.database("PostgreSQL error \(state): \(info[.message] ?? "no message")")
        }
        if [PSQLError.Code.serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed].contains(error.code) {
            return StoreError.unavailable("PostgreSQL: \(error.code)")
        }
        return StoreError.database("PostgreSQL: \(error.code)")
    }

    /// SQLSTATE 40001 (serialization failure) or 40P01 (deadlock detected): the transaction may simply run again.
    static func isSerializationFailure(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01"
    }

    /// The column that orders rows of an append-only table by insertion: SQLite's rowid, a sequence on PostgreSQL.
    var insertionOrder: SQLQueryString { SQLQueryString(engine == .sqlite ? "rowid" : "seq") }

    /// On PostgreSQL, locks the rows a claim selects and skips those another claim holds; nothing on SQLite, whose
    /// transactions run one at a time.
    var skipLocked: SQLQueryString { SQLQueryString(engine == .postgres ? " FOR UPDATE SKIP LOCKED" : "") }

    /// On PostgreSQL, locks the rows read so a concurrent claim waits for this transaction; nothing on SQLite.
    var forUpdate: SQLQueryString { SQLQueryString(engine == .postgres ? " FOR UPDATE" : "") }

    /// On PostgreSQL, a claim condition that takes the row's person for this transaction (an advisory lock), so one
    /// claim gets all of a person's due rows and a message is never split between two claims; true on SQLite.
    var personClaimed: SQLQueryString {
        SQLQueryString(engine == .postgres ? "pg_try_advisory_xact_lock(hashtextextended(person_id, 0))" : "1 = 1")
    }

    /// SQLite's two-argument MAX is PostgreSQL's GREATEST.
    var greatest: SQLQueryString { SQLQueryString(engine == .sqlite ? "MAX" : "GREATEST") }

    // MARK: - Schema

    /// Applies every migration not yet applied, in order, each in its own transaction; returns what was applied.
    @discardableResult
    public func migrate(now: Date) async throws -> [String] {
        try await migrate(now: now, through: Int.max)
    }

    /// Applies the migrations not yet applied up to version `through` (a test builds an older schema this way).
    func migrate(now: Date, through: Int) async throws -> [String] {
        try await read { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)").run()
        }
        let applied = Set(try await read { db in
            try await db.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) }
        })
        var done: [String] = []
        for migration in migrations where !applied.contains(migration.version) && migration.version <= through {
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
            let exists = try await db.raw(engine == .sqlite ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
                                                            : "SELECT table_name FROM information_schema.tables WHERE table_name = 'schema_migrations'").first()
            guard exists != nil else { return nil }
            return try await db.raw("SELECT MAX(version) AS version FROM schema_migrations").first()?.decode(column: "version", as: Int?.self)
        }
    }

    /// The version the code expects.
    public static var latestSchemaVersion: Int { migrations.last?.version ?? 0 }

    /// Connection settings actually in force, for `/readyz` and tests.
    public func pragmas() async throws -> [String: String] {
        if engine == .postgres {
            return try await read { db in
                let isolation = try await db.raw("SHOW default_transaction_isolation").first()?.decode(column: "default_transaction_isolation", as: String.self)
                return ["engine": "postgres", "transactions": "serializable, retried on conflict", "server_default_isolation": isolation ?? "?"]
            }
        }
        return try await read { db in
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
    /// The database server refused a statement (its SQLSTATE and message).
    case database(String)
    /// No connection to the database could be had in time (the server is down or unreachable); try again shortly.
    case unavailable(String)

    public var description: String {
        switch self {
        case .dispatcherRunning(let holder):
            return "another dispatcher is running on this database (\(holder)); on SQLite only one may run: stop it first, or use one `rom serve`"
        case .unsupported(let message), .database(let message): return message
        case .unavailable(let message): return "the database is unavailable: \(message)"
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
    var clock = timespec()
    clock_gettime(CLOCK_REALTIME, &clock)
    var stamp = UInt64(clock.tv_sec) &* 1000 &+ UInt64(clock.tv_nsec / 1_000_000)
    var (random, more) = idRandomness.next()
    // Written straight into the string's own storage: one allocation, not an array and then the string.
    return String(unsafeUninitializedCapacity: 25) { characters in
        // 36^9 ms reach the year 5138.
        for index in stride(from: 8, through: 0, by: -1) {
            characters[index] = idAlphabet[Int(stamp % 36)]
            stamp /= 36
        }
        // 16 digits: 12 from the first draw (36^12 < 2^63), 4 from the second.
        for index in stride(from: 24, through: 13, by: -1) {
            characters[index] = idAlphabet[Int(random % 36)]
            random /= 36
        }
        for index in stride(from: 12, through: 9, by: -1) {
            characters[index] = idAlphabet[Int(more % 36)]
            more /= 36
        }
        return 25
    }
}

private let idAlphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

/// The random part of ids, drawn from the kernel's generator 4 KiB at a time: one call per 256 ids
/// instead of two per id (a first scheduler tick makes ~200,000 ids; the calls were 2 % of its samples).
private let idRandomness = RandomPool()

private final class RandomPool: Sendable {
    private struct State {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512
    }
    private let state = Mutex(State())

    /// Two fresh 64-bit words, each handed out once.
    func next() -> (UInt64, UInt64) {
        state.withLock { state in
            if state.next + 2 > state.words.count {
                // glibc's arc4random_buf: the kernel's generator (getrandom), one call for the whole buffer; it cannot fail.
                state.words.withUnsafeMutableBytes { buffer in arc4random_buf(buffer.baseAddress!, buffer.count) }
                state.next = 0
            }
            defer { state.next += 2 }
            return (state.words[state.next], state.words[state.next + 1])
        }
    }
}

/// Set once a pooled connection has been leased, so the connection deadline no longer applies.
private final class LeaseFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// When a pooled connection was last handed out.
private final class LeaseClock: Sendable {
    private let last = Atomic<UInt64>(0)

    func mark() { last.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }

    /// True when some caller got a connection within `window` of now.
    func served(within window: Duration) -> Bool {
        let nanoseconds = UInt64(window.components.seconds) * 1_000_000_000 + UInt64(window.components.attoseconds / 1_000_000_000)
        let stamp = last.load(ordering: .relaxed)
        return stamp != 0 && DispatchTime.now().uptimeNanoseconds - stamp < nanoseconds
    }
}
