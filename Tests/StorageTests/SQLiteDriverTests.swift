import Foundation
import Logging
import ROMTesting
import SQLKit
@testable import Storage
import Testing

/// The store's own SQLite driver (`SQLiteDriver`): kept statements, values in and out, errors, and where bodies run.
@Suite("SQLite driver", .disabled(if: Fixtures.onPostgres, "SQLite only"))
struct SQLiteDriverTests {
    private func withScratch<T>(_ body: (SQLStore) async throws -> T) async throws -> T {
        let folder = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try await SQLStore.open(url: "sqlite:\(folder)/driver.sqlite", logger: Logger(label: "test"))
        do {
            try await store.transaction { db in
                try await db.raw("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, flag BOOLEAN, note TEXT, bytes BLOB)").run()
            }
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    @Test("A kept statement used 300 times with other values each time writes and reads each row's own values, NULLs included")
    func keptStatementsRebind() async throws {
        try await withScratch { store in
            let big: Int64 = 9_007_199_254_740_993 // 2^53 + 1: not exact as a Double, so it must travel as an integer
            try await store.transaction { db in
                for i in 0..<300 {
                    let note: String? = i % 3 == 0 ? nil : "it's \(i) — ✓"
                    let bytes = Data([UInt8(i % 256), 0, 255])
                    try await db.raw("""
                        INSERT INTO t (id, n, x, flag, note, bytes) VALUES (\(bind: "r\(i)"), \(bind: big + Int64(i)), \(bind: Double(i) / 4),
                            \(bind: i % 2 == 0), \(bind: note), \(bind: bytes))
                        """).run()
                }
            }
            for i in [0, 1, 2, 150, 299] {
                let row = try await store.read { db in try await db.raw("SELECT n, x, flag, note, bytes FROM t WHERE id = \(bind: "r\(i)")").first() }
                #expect(try row?.decode(column: "n", as: Int64.self) == big + Int64(i))
                #expect(try row?.decode(column: "x", as: Double?.self) == Double(i) / 4)
                #expect(try row?.decode(column: "flag", as: Bool.self) == (i % 2 == 0))
                #expect(try row?.decode(column: "note", as: String?.self) == (i % 3 == 0 ? nil : "it's \(i) — ✓"))
                #expect(try row?.decodeNil(column: "note") == (i % 3 == 0))
                #expect(try row?.decode(column: "bytes", as: Data.self) == Data([UInt8(i % 256), 0, 255]))
            }
            let count = try await store.read { db in try await db.raw("SELECT COUNT(*) AS c FROM t WHERE note IS NULL").first()?.decode(column: "c", as: Int.self) }
            #expect(count == 100)
        }
    }

    @Test("More distinct statements than are kept, and one longer than is kept, all give their own answers; an early one still works after eviction")
    func cacheEviction() async throws {
        try await withScratch { store in
            let answers = try await store.read { db in
                var answers: [Int] = []
                for i in 0..<(SQLiteDriver.cacheSize * 2) {
                    answers.append(try await db.raw("SELECT \(unsafeRaw: String(i)) + \(bind: 1) AS n").first()!.decode(column: "n", as: Int.self))
                }
                answers.append(try await db.raw("SELECT 0 + \(bind: 1) AS n").first()!.decode(column: "n", as: Int.self))
                let padding = String(repeating: " ", count: SQLiteDriver.cachedLength + 10)
                answers.append(try await db.raw("SELECT 41 + \(bind: 1) AS n\(unsafeRaw: padding)").first()!.decode(column: "n", as: Int.self))
                return answers
            }
            #expect(answers == Array(1...(SQLiteDriver.cacheSize * 2)) + [1, 42])
        }
    }

    @Test("A long statement is kept from its second use (the same multi-row VALUES text), a long one with its values in the text never is")
    func longStatementsKeptOnSecondUse() async throws {
        try await withScratch { store in
            // 120 rows of six values: the same text of well over `cachedLength` each time, other values bound.
            @Sendable func insert(_ batch: Int) -> ValuesList {
                valuesList((0..<120).map { row in ["b\(batch)r\(row)", batch * 1_000 + row, Double(row), row % 2 == 0, "note \(row)", Data([UInt8(row)])] })
            }
            let (prepared, long) = try await store.transaction { db -> ([Int], Int) in
                var prepared: [Int] = []
                var text = ""
                for batch in 0..<4 {
                    let start = store.statementsPrepared
                    let query: SQLQueryString = "INSERT INTO t (id, n, x, flag, note, bytes) VALUES \(insert(batch))"
                    text = db.serialize(query).sql
                    try await db.raw(query).run()
                    prepared.append(store.statementsPrepared - start)
                }
                return (prepared, text.utf8.count)
            }
            #expect(long > SQLiteDriver.cachedLength)
            #expect(prepared == [1, 1, 0, 0], "prepared on the first two uses, kept from the second")
            // Ids in the text: a new text each time, prepared each time and never kept.
            let literal = try await store.read { db -> [Int] in
                var prepared: [Int] = []
                for batch in 0..<3 {
                    let start = store.statementsPrepared
                    let ids = (0..<120).map { "'b\(batch)r\($0)'" }.joined(separator: ", ")
                    let count = try await db.raw("SELECT COUNT(*) AS c FROM t WHERE id IN (\(unsafeRaw: ids))").first()!.decode(column: "c", as: Int.self)
                    #expect(count == 120)
                    prepared.append(store.statementsPrepared - start)
                }
                return prepared
            }
            #expect(literal == [1, 1, 1])
            // Every row with its own values, from the kept statement too.
            let rows = try await store.read { db in
                try await db.raw("SELECT id, n, note FROM t WHERE id IN ('b0r5', 'b3r119')  ORDER BY id").all()
                    .map { "\(try $0.decode(column: "id", as: String.self)) \(try $0.decode(column: "n", as: Int.self)) \(try $0.decode(column: "note", as: String.self))" }
            }
            #expect(rows == ["b0r5 5 note 5", "b3r119 3119 note 119"])
        }
    }

    @Test("Two statements in one call, or values that do not match the parameters, are errors: nothing runs")
    func refusedCalls() async throws {
        try await withScratch { store in
            await #expect(throws: (any Error).self) {
                try await store.transaction { db in try await db.raw("INSERT INTO t (id) VALUES ('a'); INSERT INTO t (id) VALUES ('b')").run() }
            }
            await #expect(throws: (any Error).self) {
                try await store.read { db in try await db.raw("SELECT ?1 AS v").run() }
            }
            let count = try await store.read { db in try await db.raw("SELECT COUNT(*) AS c FROM t").first()?.decode(column: "c", as: Int.self) }
            #expect(count == 0)
            // A trailing semicolon is one statement.
            try await store.transaction { db in try await db.raw("INSERT INTO t (id) VALUES ('c');").run() }
            #expect(try await store.read { db in try await db.raw("SELECT COUNT(*) AS c FROM t").first()?.decode(column: "c", as: Int.self) } == 1)
        }
    }

    @Test("A kept statement that failed (a duplicate key) runs again cleanly, and the failed transaction left nothing")
    func failedStatementRunsAgain() async throws {
        try await withScratch { store in
            func insert(_ id: String) async throws {
                try await store.transaction { db in try await db.raw("INSERT INTO t (id, n) VALUES (\(bind: id), \(bind: 1))").run() }
            }
            try await insert("a")
            await #expect(throws: (any Error).self) { try await insert("a") }
            try await insert("b")
            let ids = try await store.read { db in try await db.raw("SELECT id FROM t ORDER BY id").all().map { try $0.decode(column: "id", as: String.self) } }
            #expect(ids == ["a", "b"])
        }
    }

    @Test("Bodies run on the connection's thread, also after awaiting between statements; callers outside do not")
    func bodiesOnConnectionThread() async throws {
        try await withScratch { store in
            #expect(!store.onConnectionThread)
            let inside = try await store.transaction { db -> [Bool] in
                var seen = [store.onConnectionThread]
                try await db.raw("INSERT INTO t (id) VALUES ('x')").run()
                try await Task.sleep(for: .milliseconds(5))
                seen.append(store.onConnectionThread)
                _ = try await db.raw("SELECT id FROM t").all()
                seen.append(store.onConnectionThread)
                return seen
            }
            #expect(inside == [true, true, true])
            #expect(try await store.read { _ in store.onConnectionThread })
            #expect(!store.onConnectionThread)
        }
    }

    @Test("200 transactions at once, each reading then writing a counter, lose no update (one at a time, in turn)")
    func concurrentTransactions() async throws {
        try await withScratch { store in
            try await store.transaction { db in try await db.raw("INSERT INTO t (id, n) VALUES ('counter', 0)").run() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await store.transaction { db in
                            let n = try await db.raw("SELECT n FROM t WHERE id = 'counter'").first()!.decode(column: "n", as: Int.self)
                            await Task.yield()
                            try await db.raw("UPDATE t SET n = \(bind: n + 1) WHERE id = 'counter'").run()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let n = try await store.read { db in try await db.raw("SELECT n FROM t WHERE id = 'counter'").first()?.decode(column: "n", as: Int.self) }
            #expect(n == 200)
        }
    }
}
