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
        // Eight tasks at once, each through several refills of the shared random pool: no id twice, and the random
        // part (the last 16 characters) never repeats either.
        let concurrent = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 { group.addTask { (0..<1_000).map { _ in newID() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(concurrent).count == 8_000)
        #expect(Set((concurrent + early + late).map { $0.suffix(16) }).count == 10_000)
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

    @Test("Text is bound as its own bytes: the empty string stays text (not NULL), small and long strings and Unicode come back the same, on both engines")
    func textBinds() async throws {
        try await Fixtures.withStore { store, _ in
            let texts = ["", "a", String(repeating: "x", count: 15), String(repeating: "y", count: 16), "Zoë 🙂 ا", String(repeating: "long ", count: 60)]
            let found = try await store.transaction { db -> [String?] in
                try await db.raw("CREATE TABLE text_probe (n BIGINT PRIMARY KEY, note TEXT)").run()
                for (n, text) in texts.enumerated() { try await db.raw("INSERT INTO text_probe (n, note) VALUES (\(bind: n), \(bind: text))").run() }
                // Compared in SQL too: a bound NULL would not equal ''.
                let empty = try await db.raw("SELECT COUNT(*) AS n FROM text_probe WHERE note = \(bind: "")").first()?.decode(column: "n", as: Int.self)
                #expect(empty == 1)
                return try await db.raw("SELECT note FROM text_probe ORDER BY n").all().map { try $0.decode(column: "note", as: String?.self) }
            }
            #expect(found == texts.map(Optional.some))
        }
    }

    @Test("Multi-row VALUES bind every value in its place, with binds before and after the rows in the same statement, on both engines")
    func valuesListPositions() async throws {
        try await Fixtures.withStore { store, _ in
            let rows = try await store.transaction { db -> [String] in
                try await db.raw("CREATE TABLE values_probe (id TEXT PRIMARY KEY, n BIGINT, note TEXT)").run()
                // Two statements: the second's placeholders start after a bind of its own, and one follows the rows.
                for batch in 0..<2 {
                    let values = valuesList((0..<40).map { ["b\(batch)r\($0)", batch * 100 + $0] as [any Encodable & Sendable] })
                    try await db.raw("""
                        INSERT INTO values_probe (id, n, note)
                        SELECT v.column1, v.column2, \(bind: "before \(batch)") FROM (VALUES \(values)) AS v WHERE v.column2 >= \(bind: batch * 100 + 38)
                        """).run()
                }
                return try await db.raw("SELECT id, n, note FROM values_probe ORDER BY n").all().map {
                    "\(try $0.decode(column: "id", as: String.self)) \(try $0.decode(column: "n", as: Int.self)) \(try $0.decode(column: "note", as: String.self))"
                }
            }
            #expect(rows == ["b0r38 38 before 0", "b0r39 39 before 0", "b1r38 138 before 1", "b1r39 139 before 1"])
        }
    }

    @Test("A set for IN matches exactly its strings — quotes, backslashes, control characters, Unicode, the empty string — on both engines; on SQLite it is bound as one JSON array and keeps one prepared statement whatever its size")
    func boundSets() async throws {
        let inSet = ["o'brien", "back\\slash", "quote\"d", "tab\there", "line\nbreak", "bell\u{07}", "née", "😀 emoji", "", "plain"]
        let outside = ["o'brie", "back", "quote", "nee", "plain2", "x"]
        // The JSON text, read back by an independent parser, is the same strings.
        let parsed = try JSONSerialization.jsonObject(with: Data(jsonArray(inSet).utf8)) as? [String]
        #expect(parsed == inSet)
        try await Fixtures.withStore { store, _ in
            let (found, rest, none, prepared) = try await store.transaction { db -> (Set<String>, Set<String>, Int, [Int]) in
                try await db.raw("CREATE TABLE bound_set_probe (id TEXT PRIMARY KEY)").run()
                try await db.raw("INSERT INTO bound_set_probe (id) VALUES \(valuesList((inSet + outside).map { [$0] }))").run()
                var prepared: [Int] = []
                var found = Set<String>()
                for part in [Array(inSet.prefix(3)), Array(inSet.dropFirst(3))] {
                    let start = store.statementsPrepared
                    for row in try await db.raw("SELECT id FROM bound_set_probe WHERE id IN \(boundSet(db, part))").all() {
                        found.insert(try row.decode(column: "id", as: String.self))
                    }
                    prepared.append(store.statementsPrepared - start)
                }
                let rest = Set(try await db.raw("SELECT id FROM bound_set_probe WHERE id NOT IN \(boundSet(db, inSet))").all()
                    .map { try $0.decode(column: "id", as: String.self) })
                let none = try await db.raw("SELECT COUNT(*) AS n FROM bound_set_probe WHERE id IN \(boundSet(db, [String]()))").first()!
                    .decode(column: "n", as: Int.self)
                return (found, rest, none, prepared)
            }
            #expect(found == Set(inSet))
            #expect(rest == Set(outside))
            #expect(none == 0)
            if store.engine == .sqlite { #expect(prepared == [1, 0], "sets of other sizes share one prepared statement") }
        }
    }
}

/// Migration 19 turns a row per prompt into a row per message, for databases written before it.
@Suite("One outbox row per message (migration 19)")
struct OutboxPerMessageMigrationTests {
    @Test("Waiting rows of one check-in become one message carrying all its prompts; the others are recorded as merged; sent rows keep their history")
    func mergesWaitingRows() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let store = try await SQLStore.open(url: try await Fixtures.freshDatabaseURL(folder: folder), logger: Logger(label: "test"))
        _ = try await store.migrate(now: Fixtures.fixedNow, through: 18)
        try await store.transaction { db in
            try await db.raw("INSERT INTO people (id, given_name, team, created_at_ms, updated_at_ms) VALUES ('p1', 'Ana', 'north', 0, 0)").run()
            try await db.raw("INSERT INTO enrolments (id, person_id, pathway, start_date, created_at_ms) VALUES ('e1', 'p1', 'community', '2026-11-02', 0)").run()
            // Three prompts of the baseline check-in, one of the next review's, two of a third held by a live lease.
            for (id, review) in [("pr_a", "b"), ("pr_b", "b"), ("pr_c", "b"), ("pr_d", "c:2026-11-30"), ("pr_e", "c:2026-12-28"), ("pr_f", "c:2026-12-28")] {
                try await db.raw("""
                    INSERT INTO prompts (id, enrolment_id, review_id, person_id, instrument, kind, send_at_ms, closes_at_ms, status, idempotency_key, created_at_ms)
                    VALUES (\(bind: id), 'e1', \(bind: review), 'p1', \(bind: "m_" + id), 'routine', 1000, 9000000000000, 'scheduled', \(bind: id), 0)
                    """).run()
            }
            let rows: [(String, String, String, String, String, String?)] = [
                ("ob_1", "pr_b", "prompt", "queued", "pr_b", nil), ("ob_2", "pr_a", "prompt", "queued", "pr_a", nil), ("ob_3", "pr_c", "prompt", "queued", "pr_c", nil),
                ("ob_4", "pr_d", "prompt", "queued", "pr_d", nil), ("ob_5", "pr_a", "reminder", "accepted", "pr_a:r0", nil),
                ("ob_6", "pr_e", "prompt", "sending", "pr_e", "ls_x"), ("ob_7", "pr_f", "prompt", "sending", "pr_f", "ls_x"),
            ]
            for (id, prompt, purpose, status, key, lease) in rows {
                try await db.raw("""
                    INSERT INTO outbox_messages (id, prompt_id, person_id, purpose, channel, gateway, status, attempt, due_at_ms, idempotency_key, payload,
                                                 created_at_ms, updated_at_ms, lease_token, lease_until_ms)
                    VALUES (\(bind: id), \(bind: prompt), 'p1', \(bind: purpose), 'sms', 'sandbox-sms', \(bind: status), 0, 1000, \(bind: key), '{}', 0, 0,
                            \(bind: lease), \(bind: lease == nil ? Int64?.none : Int64(2000)))
                    """).run()
            }
        }
        #expect(try await store.migrate(now: Fixtures.fixedNow) == ["19 one outbox row per message"])
        let statuses = Dictionary(uniqueKeysWithValues: try await store.outboxRows().map { ($0.id, ($0.status, $0.error)) })
        // The lowest key leads: pr_a's row (ob_2), under whose key the claim sent the message before.
        #expect(statuses["ob_2"]?.0 == "queued")
        #expect(statuses["ob_1"]?.0 == "merged" && statuses["ob_1"]?.1 == "sent as part of ob_2")
        #expect(statuses["ob_3"]?.0 == "merged" && statuses["ob_4"]?.0 == "queued" && statuses["ob_5"]?.0 == "accepted")
        #expect(statuses["ob_6"]?.0 == "sending" && statuses["ob_7"]?.0 == "merged")
        let links = try await store.read { db in
            try await db.raw("SELECT message_id, prompt_id FROM outbox_prompts ORDER BY message_id, prompt_id").all()
                .map { "\(try $0.decode(column: "message_id", as: String.self))>\(try $0.decode(column: "prompt_id", as: String.self))" }
        }
        #expect(links == ["ob_2>pr_a", "ob_2>pr_b", "ob_2>pr_c", "ob_4>pr_d", "ob_5>pr_a", "ob_6>pr_e", "ob_6>pr_f"])
        #expect(try await store.transitions(messageID: "ob_1") == ["queued → merged"])
        // Claimed after the upgrade: the check-in goes as one message under its old key; the expired lease's two rows too.
        let claims = try await store.claimDue(now: Date(timeIntervalSince1970: 3), limit: 10, lease: 60).sorted { $0.id < $1.id }
        #expect(claims.map(\.id) == ["ob_2", "ob_4", "ob_6"])
        #expect(claims.map(\.promptIDs) == [["pr_a", "pr_b", "pr_c"], ["pr_d"], ["pr_e", "pr_f"]])
        #expect(claims.first?.idempotencyKey == "pr_a" && claims.first?.attempt == 1)
        try await store.close()
    }
}
