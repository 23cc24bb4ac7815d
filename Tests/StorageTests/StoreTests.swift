import Foundation
import Logging
import ROMTesting
import SQLKit
import Scheduling
@testable import Storage
import Testing

@Suite("SQLite store")
struct StoreTests {
    @Test("A new file is migrated to the latest schema; migrating again applies nothing")
    func migrateIdempotent() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let store = try await SQLStore.open(url: "sqlite:\(folder)/nested/rom.sqlite", logger: Logger(label: "test"))
        #expect(try await store.schemaVersion() == nil)
        let first = try await store.migrate(now: Fixtures.fixedNow)
        #expect(first.count == SQLStore.latestSchemaVersion)
        #expect(try await store.migrate(now: Fixtures.fixedNow).isEmpty)
        #expect(try await store.schemaVersion() == SQLStore.latestSchemaVersion)
        try await store.close()
        #expect(FileManager.default.fileExists(atPath: "\(folder)/nested/rom.sqlite"))
    }

    @Test("WAL, synchronous=FULL, a 5 s busy timeout and foreign keys are in force", .disabled(if: Fixtures.onPostgres, "SQLite only"))
    func pragmas() async throws {
        try await Fixtures.withStore { store, _ in
            let pragmas = try await store.pragmas()
            #expect(pragmas["journal_mode"] == "wal")
            #expect(pragmas["synchronous"] == "2")
            #expect(Int(pragmas["busy_timeout"] ?? "0")! >= 5000)
            #expect(pragmas["foreign_keys"] == "1")
        }
    }

    @Test("Audit events are append-only: UPDATE and DELETE are refused by the database")
    func auditAppendOnly() async throws {
        try await Fixtures.withStore { store, _ in
            try await store.audit(AuditEvent(at: Fixtures.fixedNow, actor: "t", action: "x", personID: nil, detail: nil, requestID: nil))
            await #expect(throws: (any Error).self) {
                try await store.transaction { db in try await db.raw("UPDATE audit_events SET actor = 'y'").run() }
            }
            await #expect(throws: (any Error).self) {
                try await store.transaction { db in try await db.raw("DELETE FROM audit_events").run() }
            }
            #expect(try await store.auditEvents().count == 1)
        }
    }

    @Test("A failing transaction writes nothing")
    func rollback() async throws {
        try await Fixtures.withStore { store, _ in
            let person = Person(id: "a", givenName: "A", phone: "+447700900001", email: nil, timezone: nil, pathway: "community",
                                startDate: LocalDate(year: 2026, month: 11, day: 2), clinician: nil, team: "north")
            await #expect(throws: (any Error).self) {
                try await store.transaction { db in
                    try await db.raw("INSERT INTO people (id, given_name, team, created_at_ms, updated_at_ms) VALUES ('b', 'B', 't', 0, 0)").run()
                    throw StoreError.notFound("stop")
                }
            }
            #expect(try await store.countPeople() == 0)
            try await store.insertPeople([person], now: Fixtures.fixedNow)
            #expect(try await store.countPeople() == 1)
        }
    }

    @Test("Tokens are found by hash only while not revoked")
    func tokens() async throws {
        try await Fixtures.withStore { store, _ in
            try await store.insertToken(id: "t1", hash: "h1", role: .ops, team: nil, label: nil, now: Fixtures.fixedNow)
            #expect(try await store.token(hash: "h1", now: Fixtures.fixedNow)?.role == .ops)
            try await store.revokeToken(id: "t1", now: Fixtures.fixedNow)
            #expect(try await store.token(hash: "h1", now: Fixtures.fixedNow) == nil)
        }
    }

    @Test("A session lives until its absolute expiry or until idle too long, ends with its account's disable or new password, and is swept")
    func sessions() async throws {
        try await Fixtures.withStore { store, _ in
            let now = Fixtures.fixedNow
            try await store.insertUser(id: "u1", email: "a@example.org", role: .clinician, team: "north", passwordHash: nil, totpSecret: nil,
                                       recoveryCodeHashes: [], setupHash: nil, setupExpiresAt: nil, actor: "test", now: now)
            try await store.insertSession(hash: "s1", userID: "u1", stage: .signedIn, next: nil, now: now, expiresAt: now.addingTimeInterval(3_600))
            #expect(try await store.session(hash: "s1", idle: 600, now: now.addingTimeInterval(599))?.1.email == "a@example.org")
            // Idle: unused for 10 minutes ends it, even inside its lifetime; a touch keeps it alive.
            #expect(try await store.session(hash: "s1", idle: 600, now: now.addingTimeInterval(600)) == nil)
            try await store.touchSession(id: try #require(try await store.session(hash: "s1", idle: 600, now: now.addingTimeInterval(500))).0.id,
                                         now: now.addingTimeInterval(500))
            #expect(try await store.session(hash: "s1", idle: 600, now: now.addingTimeInterval(1_000)) != nil)
            // Absolute: never past expiresAt, however busy.
            try await store.touchSession(id: try #require(try await store.session(hash: "s1", idle: 600, now: now.addingTimeInterval(1_000))).0.id,
                                         now: now.addingTimeInterval(3_599))
            #expect(try await store.session(hash: "s1", idle: 600, now: now.addingTimeInterval(3_600)) == nil)
            #expect(try await store.deleteExpiredSessions(idle: 600, now: now.addingTimeInterval(3_600)) == 1)
            // A new password or disabling the account ends its sessions.
            try await store.insertSession(hash: "s2", userID: "u1", stage: .signedIn, next: nil, now: now, expiresAt: now.addingTimeInterval(3_600))
            try await store.setPassword(userID: "u1", hash: "x", actor: "test", now: now)
            #expect(try await store.session(hash: "s2", idle: 600, now: now) == nil)
            try await store.insertSession(hash: "s3", userID: "u1", stage: .signedIn, next: nil, now: now, expiresAt: now.addingTimeInterval(3_600))
            #expect(try await store.disableUser(id: "u1", actor: "test", now: now))
            #expect(try await store.session(hash: "s3", idle: 600, now: now) == nil)
            #expect(try await store.disableUser(id: "u1", actor: "test", now: now) == false)
        }
    }

    @Test("A TOTP step is accepted once and never an older one; a recovery code works once")
    func oneTimeCodes() async throws {
        try await Fixtures.withStore { store, _ in
            try await store.insertUser(id: "u1", email: "a@example.org", role: .ops, team: nil, passwordHash: nil, totpSecret: "S",
                                       recoveryCodeHashes: ["r1", "r2"], setupHash: nil, setupExpiresAt: nil, actor: "test", now: Fixtures.fixedNow)
            #expect(try await store.acceptTOTPStep(userID: "u1", step: 100))
            #expect(try await store.acceptTOTPStep(userID: "u1", step: 100) == false)
            #expect(try await store.acceptTOTPStep(userID: "u1", step: 99) == false)
            #expect(try await store.acceptTOTPStep(userID: "u1", step: 101))
            #expect(try await store.useRecoveryCode(userID: "u1", hash: "r1", now: Fixtures.fixedNow))
            #expect(try await store.useRecoveryCode(userID: "u1", hash: "r1", now: Fixtures.fixedNow) == false)
            #expect(try await store.useRecoveryCode(userID: "u1", hash: "r3", now: Fixtures.fixedNow) == false)
            #expect(try await store.user(email: "a@example.org")?.recoveryCodesLeft == 1)
        }
    }

    @Test("Concurrent transactions on one store are serialised, none lost")
    func concurrentWrites() async throws {
        try await Fixtures.withStore { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await store.audit(AuditEvent(at: Fixtures.fixedNow, actor: "t\(index)", action: "x", personID: nil, detail: nil, requestID: nil))
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.auditEvents(limit: 100).count == 50)
        }
    }

    @Test("Row ids are 25 base-36 characters, unique, and sort by the millisecond they were made (so a batch's rows share index pages)")
    func timeOrderedIDs() async throws {
        let early = (0..<1_000).map { _ in newID() }
        try await Task.sleep(for: .milliseconds(3))
        let late = (0..<1_000).map { _ in newID() }
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyz")
        #expect((early + late).allSatisfy { $0.count == 25 && $0.allSatisfy(allowed.contains) })
        #expect(Set(early + late).count == 2_000)
        #expect(early.max()! < late.min()!)
        // The first nine characters are the Unix time in milliseconds, in base 36.
        let millis = Int64(late[0].prefix(9), radix: 36)!
        #expect(abs(Double(millis) / 1000 - Date().timeIntervalSince1970) < 5)
    }

    @Test("PRAGMA cache_size is 64 MiB and temporary tables stay in memory", .disabled(if: Fixtures.onPostgres, "SQLite only"))
    func cachePragmas() async throws {
        try await Fixtures.withStore { store, _ in
            let values = try await store.read { db -> (Int?, Int?) in
                (try await db.raw("PRAGMA cache_size").first()?.decode(column: "cache_size", as: Int.self),
                 try await db.raw("PRAGMA temp_store").first()?.decode(column: "temp_store", as: Int.self))
            }
            #expect(values.0 == -65_536)
            #expect(values.1 == 2)
        }
    }

    @Test("The dispatcher lock: a second holder on the same file is refused with the first one's name and pid; released, it can be taken again; an in-memory store needs none", .disabled(if: Fixtures.onPostgres, "SQLite only"))
    func dispatcherLock() async throws {
        try await Fixtures.withStore { store, _ in
            var first = try store.dispatcherLock(holder: "rom serve")
            #expect(first != nil)
            #expect(throws: StoreError.dispatcherRunning("rom serve, pid \(getpid())")) { try store.dispatcherLock(holder: "rom dispatch") }
            first = nil
            #expect(try store.dispatcherLock(holder: "rom dispatch") != nil)
        }
        let memory = try await SQLStore.open(url: "sqlite::memory:", logger: Logger(label: "test"))
        #expect(try memory.dispatcherLock(holder: "rom serve") == nil)
        try await memory.close()
    }

    @Test("TLS to PostgreSQL is required by default for a server off this machine; loopback prefers it; the URL can say otherwise")
    func sslModeDefaults() throws {
        func mode(_ url: String) throws -> String {
            let parts = try #require(URLComponents(string: url))
            _ = try SQLStore.postgresConfiguration(url)
            return SQLStore.sslMode(parts, host: try #require(parts.host))
        }
        #expect(try mode("postgres://rom@db.internal.example/rom") == "require")
        #expect(try mode("postgres://rom@127.0.0.1/rom") == "prefer")
        #expect(try mode("postgres://rom@localhost:5433/rom") == "prefer")
        #expect(try mode("postgres://rom@db.internal.example/rom?sslmode=disable") == "disable")
    }

    @Test("A PostgreSQL URL that cannot work is a clear error: no user, a bad sslmode, or nobody listening (after 10 s, not a hang)")
    func postgresURLErrors() async throws {
        for (url, words) in [("postgres://127.0.0.1/rom", "is not a PostgreSQL URL"), ("postgres://rom@127.0.0.1/rom?sslmode=sometimes", "sslmode=sometimes"),
                             ("postgres://rom@127.0.0.1:1/rom?sslmode=disable", "no connection to PostgreSQL at 127.0.0.1:1")] {
            do {
                let store = try await SQLStore.open(url: url, logger: Logger(label: "test"))
                try await store.close()
                Issue.record("\(url) opened")
            } catch {
                #expect("\(error)".contains(words), "\(url): \(error)")
            }
        }
    }
}
