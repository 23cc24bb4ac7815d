import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO
// SQLiteNIO's own vendored SQLite (symbols prefixed `sqlite_nio_`), reached through SQLiteNIO's target. It must be the
// same copy of SQLite as SQLiteNIO's: two copies in one process do not see each other's POSIX locks on a file, and
// closing one's descriptor drops the other's locks (sqlite.org/howtocorrupt.html, 2.2.1).
import VaporCSQLite

/// The store's SQLite connection, driven directly rather than through SQLiteNIO (issue 16, item 3).
///
/// SQLiteNIO prepares every statement afresh and runs each on a thread pool, so every statement of a transaction was a
/// hop to that pool and back, and its handle and statements are not ours to keep. Here the connection lives on a thread
/// of its own (`executor`); `SQLStore.read` and `transaction` run their whole body there (a task executor preference),
/// so a transaction's statements run one after another on that thread with no hop between them, and statements are
/// prepared once and kept (`SQLITE_PREPARE_PERSISTENT`, reset and rebound on each use). SQLKit still builds and
/// serialises every statement, with SQLiteKit's dialect and value coding: the SQL is the same one for both engines.
final class SQLiteDriver: @unchecked Sendable {
    /// The connection's own thread; every call into SQLite happens on it.
    let loop: any EventLoop
    let executor: LoopTaskExecutor
    private let group: MultiThreadedEventLoopGroup
    // Touched only on `loop`.
    private var handle: OpaquePointer?
    private var cache: [String: Cached] = [:]
    private var uses: UInt64 = 0
    /// Hashes of long statements seen once and not kept (see `cachedLength`).
    private var seenOnce = Set<Int>()
    /// Statements prepared so far (for tests: a kept statement is not prepared again).
    private(set) var prepares = 0

    private struct Cached {
        var statement: OpaquePointer
        var names: ColumnNames?
        var lastUse: UInt64
    }

    /// Statements kept prepared; the least recently used goes when a new one needs the room.
    static let cacheSize = 160
    /// Longer SQL is kept only from its second use. A multi-row VALUES list of a full chunk (a tick's 100 prompts, the
    /// import's 100 people) is the same text every time, and parsing it anew was 6 % of a first tick; an IN list of
    /// ids, with the ids in the text, is almost never seen twice, and is prepared, used and finalised.
    static let cachedLength = 2_048
    /// Long statements seen once that are remembered, by hash; the set starts again when full.
    static let rememberedLong = 4_096

    private init(group: MultiThreadedEventLoopGroup) {
        self.group = group
        self.loop = group.next()
        self.executor = LoopTaskExecutor(loop: loop)
    }

    /// Opens `path` (created when missing) or, for nil, a private database in memory.
    static func open(path: String?) async throws -> SQLiteDriver {
        let driver = SQLiteDriver(group: MultiThreadedEventLoopGroup(numberOfThreads: 1))
        do {
            try await driver.loop.submit {
                var handle: OpaquePointer?
                // No mutex around each call: every call comes from the connection's own thread (a tick binds about
                // two million values, and each bind took and released the connection's mutex).
                let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
                let status = sqlite_nio_sqlite3_open_v2(path ?? ":memory:", &handle, flags, nil)
                guard status == SQLITE_OK, let handle else {
                    let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "out of memory"
                    if let handle { sqlite_nio_sqlite3_close_v2(handle) }
                    throw SQLiteFailure(code: status, message: "cannot open \(path ?? "the database in memory"): \(message)")
                }
                driver.handle = handle
            }.get()
        } catch {
            try? await driver.group.shutdownGracefully()
            throw error
        }
        return driver
    }

    /// Finalises the kept statements and closes the connection; the driver cannot be used afterwards.
    func close() async throws {
        try await loop.submit { self.closeHandle() }.get()
        try await group.shutdownGracefully()
    }

    private func closeHandle() {
        for entry in cache.values { sqlite_nio_sqlite3_finalize(entry.statement) }
        cache.removeAll()
        if let handle { sqlite_nio_sqlite3_close_v2(handle) }
        handle = nil
    }

    /// For a store dropped without `close()`: nothing can be running on the connection once nobody holds it.
    deinit {
        closeHandle()
        group.shutdownGracefully { _ in }
    }

    /// Runs `sql` with `binds` on the connection's thread (at once when already there), passing each result row on.
    func execute(_ sql: String, _ binds: [any Encodable & Sendable], _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        if loop.inEventLoop {
            try run(sql, binds, onRow)
        } else {
            try await loop.submit { try self.run(sql, binds, onRow) }.get()
        }
    }

    /// Must run on `loop`.
    private func run(_ sql: String, _ binds: [any Encodable & Sendable], _ onRow: (any SQLRow) -> Void) throws {
        guard let handle else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the database is closed") }
        uses &+= 1
        var statement: OpaquePointer
        var names: ColumnNames?
        let kept = cache.index(forKey: sql)
        var keep = kept != nil || sql.utf8.count <= Self.cachedLength
        if !keep {
            // Long: kept from its second use.
            let hash = sql.hashValue
            if seenOnce.remove(hash) != nil {
                keep = true
            } else {
                if seenOnce.count >= Self.rememberedLong { seenOnce.removeAll(keepingCapacity: true) }
                seenOnce.insert(hash)
            }
        }
        if let kept {
            // One lookup of the SQL text: its entry is read and marked used in place.
            statement = cache.values[kept].statement
            names = cache.values[kept].names
            cache.values[kept].lastUse = uses
        } else {
            prepares += 1
            var prepared: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let status = sql.withCString { text in
                let status = sqlite_nio_sqlite3_prepare_v3(handle, text, -1, UInt32(keep ? SQLITE_PREPARE_PERSISTENT : 0), &prepared, &tail)
                // One statement per call: text after the first would otherwise be skipped without a word.
                if status == SQLITE_OK, let tail, tail.pointee != 0,
                   !String(cString: tail).allSatisfy({ $0.isWhitespace || $0 == ";" }) {
                    return SQLITE_MISUSE
                }
                return status
            }
            guard status == SQLITE_OK, let prepared else {
                if let prepared { sqlite_nio_sqlite3_finalize(prepared) }
                throw SQLiteFailure(code: status, message: status == SQLITE_MISUSE ? "more than one statement in one call" : String(cString: sqlite_nio_sqlite3_errmsg(handle)))
            }
            statement = prepared
            if keep {
                if cache.count >= Self.cacheSize, let oldest = cache.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                    sqlite_nio_sqlite3_finalize(oldest.value.statement)
                    cache[oldest.key] = nil
                }
                cache[sql] = Cached(statement: statement, names: nil, lastUse: uses)
            }
        }
        // A kept statement is reset, not cleared: every use binds every parameter again, and clearing would expire a
        // statement whose plan looked at a bound value (the consent read's channel), preparing it afresh every time.
        defer {
            if keep {
                sqlite_nio_sqlite3_reset(statement)
            } else {
                sqlite_nio_sqlite3_finalize(statement)
            }
        }
        let parameters = Int(sqlite_nio_sqlite3_bind_parameter_count(statement))
        guard parameters == binds.count else {
            throw SQLiteFailure(code: SQLITE_RANGE, message: "\(binds.count) values for \(parameters) parameters")
        }
        for (index, value) in binds.enumerated() {
            let status = try bind(value, at: Int32(index + 1), to: statement)
            guard status == SQLITE_OK else { throw SQLiteFailure(code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(handle))) }
        }
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw SQLiteFailure(code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(handle))) }
            if names == nil {
                let count = sqlite_nio_sqlite3_column_count(statement)
                names = ColumnNames((0..<count).map { String(cString: sqlite_nio_sqlite3_column_name(statement, $0)) })
                if keep { cache[sql]?.names = names }
            }
            var values: [SQLiteData] = []
            values.reserveCapacity(names!.list.count)
            for column in 0..<Int32(names!.list.count) {
                values.append(Self.value(statement, column))
            }
            onRow(SQLiteDriverRow(names: names!, values: values))
        }
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT:
            return .float(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            if let bytes = sqlite_nio_sqlite3_column_blob(statement, column) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: count))
            }
            return .blob(buffer)
        default:
            return .null
        }
    }

    private static let encoder = SQLiteDataEncoder()

    /// Binds the common types directly and the rest as SQLiteKit encodes them (an optional's nil as NULL, JSON as text).
    private func bind(_ value: any Encodable & Sendable, at index: Int32, to statement: OpaquePointer) throws -> Int32 {
        switch value {
        case var text as String:
            // The string's own bytes (a small string's on the stack): passed as a C string, a string of up to 15 bytes
            // was copied into a new array first.
            return text.withUTF8 { bytes in
                // An empty string is still text, not NULL: SQLite needs a pointer for it.
                guard let base = bytes.baseAddress, !bytes.isEmpty else {
                    return sqlite_nio_sqlite3_bind_text64(statement, index, "", 0, SQLITE_TRANSIENT_DRIVER, UInt8(SQLITE_UTF8))
                }
                return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    sqlite_nio_sqlite3_bind_text64(statement, index, $0, UInt64(bytes.count), SQLITE_TRANSIENT_DRIVER, UInt8(SQLITE_UTF8))
                }
            }
        case let number as Int64:
            return sqlite_nio_sqlite3_bind_int64(statement, index, number)
        case let number as Int:
            return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(number))
        case let number as Double:
            return sqlite_nio_sqlite3_bind_double(statement, index, number)
        case let flag as Bool:
            return sqlite_nio_sqlite3_bind_int64(statement, index, flag ? 1 : 0)
        default:
            switch try Self.encoder.encode(value) {
            case .integer(let number): return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(number))
            case .float(let number): return sqlite_nio_sqlite3_bind_double(statement, index, number)
            case .text(let text):
                return sqlite_nio_sqlite3_bind_text64(statement, index, text, UInt64(text.utf8.count), SQLITE_TRANSIENT_DRIVER, UInt8(SQLITE_UTF8))
            case .blob(let blob):
                return blob.withUnsafeReadableBytes {
                    sqlite_nio_sqlite3_bind_blob64(statement, index, $0.baseAddress, UInt64($0.count), SQLITE_TRANSIENT_DRIVER)
                }
            case .null: return sqlite_nio_sqlite3_bind_null(statement, index)
            }
        }
    }
}

/// SQLite copies a bound value at once (`SQLITE_TRANSIENT`).
private let SQLITE_TRANSIENT_DRIVER = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A SQLite result code and message.
struct SQLiteFailure: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var description: String { "SQLite error \(code): \(message)" }
}

/// A statement's column names, shared by all its rows.
final class ColumnNames: Sendable {
    let list: [String]
    let index: [String: Int]

    init(_ list: [String]) {
        self.list = list
        var index: [String: Int] = [:]
        // The first of two same-named columns wins, as in SQLiteNIO.
        for (position, name) in list.enumerated() where index[name] == nil { index[name] = position }
        self.index = index
    }
}

/// One result row.
struct SQLiteDriverRow: SQLRow, @unchecked Sendable {
    let names: ColumnNames
    let values: [SQLiteData]

    var allColumns: [String] { names.list }

    func contains(column: String) -> Bool { names.index[column] != nil }

    private func value(_ column: String) throws -> SQLiteData {
        guard let position = names.index[column] else {
            throw DecodingError.keyNotFound(SQLiteColumnKey(column), .init(codingPath: [], debugDescription: "no column \(column) in the row"))
        }
        return values[position]
    }

    func decodeNil(column: String) throws -> Bool {
        if case .null = try value(column) { return true }
        return false
    }

    private static let decoder = SQLiteDataDecoder()

    /// The types the store reads most are taken straight from the value; the rest as SQLiteKit decodes them.
    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        let value = try value(column)
        switch value {
        case .text(let text):
            if D.self == String.self { return unsafeBitCast(text, to: D.self) }
            if D.self == String?.self { return unsafeBitCast(Optional(text), to: D.self) }
        case .integer(let number):
            if D.self == Int64.self { return unsafeBitCast(Int64(number), to: D.self) }
            if D.self == Int.self { return unsafeBitCast(number, to: D.self) }
            if D.self == Int64?.self { return Optional(Int64(number)) as! D }
            if D.self == Int?.self { return Optional(number) as! D }
        case .null:
            if D.self == String?.self { return unsafeBitCast(String?.none, to: D.self) }
            if D.self == Int64?.self { return Int64?.none as! D }
            if D.self == Int?.self { return Int?.none as! D }
        default:
            break
        }
        return try Self.decoder.decode(D.self, from: value)
    }
}

private struct SQLiteColumnKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// SQLKit's view of the driver: SQLiteKit's dialect and value coding, statements run by `SQLiteDriver`.
struct SQLiteDriverDatabase: SQLDatabase {
    let driver: SQLiteDriver
    let logger: Logger

    var eventLoop: any EventLoop { driver.loop }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        let (sql, binds) = serialize(query)
        let driver = self.driver
        return driver.loop.makeFutureWithTask { try await driver.execute(sql, binds, onRow) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        let (sql, binds) = serialize(query)
        try await driver.execute(sql, binds, onRow)
    }
}

/// Runs tasks that prefer it on an event loop's thread (here the SQLite connection's own).
final class LoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
