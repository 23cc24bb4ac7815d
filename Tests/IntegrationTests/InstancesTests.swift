import Foundation
import Logging
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Several `rom serve` on one PostgreSQL database (R5 and the one-scheduler rule of DESIGN.md), as ops run them.
@Suite("Several instances", .serialized)
struct InstancesTests {
    func get(_ port: Int, _ path: String) async -> String? {
        guard let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// How many scheduler ticks the instance on `port` has run (nil when it does not answer).
    func ticks(_ port: Int) async -> Int? {
        guard let metrics = await get(port, "/metrics") else { return nil }
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("rom_background_ticks_total{service=\"scheduler\"}") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }

    func waitUntil(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    func rows(_ store: SQLStore, _ sql: String) async throws -> Int {
        try await store.read { db in try await db.raw(SQLQueryString(stringLiteral: sql)).first()?.decode(column: "n", as: Int.self) ?? -1 }
    }

    @Test("Three rom serve on one PostgreSQL database: never two scheduler ticks at once; after kill -9 of an instance that ran the scheduler the others carry on and plan people added since; every check-in sent once, none lost",
          .enabled(if: Fixtures.onPostgres, "needs PostgreSQL (scripts/test's second pass)"))
    func threeInstances() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let url = try await Fixtures.freshDatabaseURL(folder: folder)
        let config = try Fixtures.copyOfConfig()
        var rom = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        for (from, to) in [("  tick: 1m", "  tick: 1s"), ("  poll: 5s", "  poll: 1s"),
                           ("link_secret: { file: var/link-secret }", "link_secret: { file: \(config)/link-secret }")] {
            #expect(rom.contains(from), "rom.yaml has `\(from)`")
            rom = rom.replacingOccurrences(of: from, with: to)
        }
        try rom.write(toFile: "\(config)/rom.yaml", atomically: true, encoding: .utf8)
        let environment = ["ROM_DATABASE_URL": url]
        func people(_ range: Range<Int>) throws -> String {
            let file = "\(folder)/people-\(range.lowerBound).csv"
            try ("id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n" + range.map {
                String(format: "p%03d,Ana,+447700%06d,,,community,2026-11-02,,north\n", $0, $0)
            }.joined()).write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        #expect(try Subprocess.run(Subprocess.rom, ["migrate", "--config", config], environment: environment).status == 0)
        #expect(try Subprocess.run(Subprocess.rom, ["people", "import", try people(0..<40), "--config", config], environment: environment).status == 0)

        // A fixed clock on every instance: 09:00 on the start date, inside the send window.
        // Below Linux's ephemeral range (32768 and up), so no outgoing connection of another test holds one of them.
        let base = Int.random(in: 20_000...32_700)
        let ports = [base, base + 7, base + 13]
        var serves = try ports.map { port in
            try Subprocess(Subprocess.rom, ["serve", "--config", config, "--now", "2026-11-02T09:00:00Z"],
                           environment: environment.merging(["ROM_LISTEN": "127.0.0.1:\(port)"]) { $1 })
        }
        defer { for serve in serves where serve.process.isRunning { kill(serve.pid, SIGKILL) } }
        let store = try await SQLStore.open(url: url, logger: .init(label: "test"))

        // Every check-in goes out once, whichever instance's dispatcher takes it.
        #expect(try await waitUntil(60) { try await rows(store, "SELECT COUNT(DISTINCT idempotency_key) AS n FROM sandbox_messages") == 40 }, "40 check-ins sent")
        // At no moment do two sessions hold the scheduler's lock (sampled from PostgreSQL's own lock table).
        var most = 0
        for _ in 0..<40 {
            most = max(most, try await rows(store, """
                SELECT COUNT(*) AS n FROM pg_locks l, (SELECT hashtextextended('rom.scheduler', 0) AS k) key
                WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = ((key.k >> 32) & 4294967295)::oid AND l.objid = (key.k & 4294967295)::oid AND l.objsubid = 1
                """))
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(most <= 1, "two instances held the scheduler's lock at once")
        var counts: [Int: Int] = [:]
        #expect(try await waitUntil(20) {
            for port in ports { counts[port] = await ticks(port) ?? 0 }
            return counts.values.contains { $0 > 0 }
        }, "some instance ran scheduler ticks: \(counts)")
        // An instance that has run the scheduler dies without a word.
        let victim = try #require(ports.first { (counts[$0] ?? 0) > 0 })
        let survivors = ports.filter { $0 != victim }
        let index = try #require(ports.firstIndex(of: victim))
        kill(serves[index].pid, SIGKILL)
        _ = serves[index].finish()
        var before = 0
        for port in survivors { before += await ticks(port) ?? 0 }
        var after = before
        #expect(try await waitUntil(30) {
            after = 0
            for port in survivors { after += await ticks(port) ?? 0 }
            return after >= before + 3
        }, "the other instances carried on ticking: \(before) → \(after)")

        // People added after the death are planned by the new scheduler and sent.
        #expect(try Subprocess.run(Subprocess.rom, ["people", "import", try people(40..<50), "--config", config], environment: environment).status == 0)
        #expect(try await waitUntil(60) { try await rows(store, "SELECT COUNT(DISTINCT idempotency_key) AS n FROM sandbox_messages") == 50 },
                "the ten people added after the kill were planned and sent")
        try await Task.sleep(for: .seconds(2))
        #expect(try await rows(store, "SELECT COUNT(*) AS n FROM sandbox_messages") == 50, "no check-in sent twice")
        #expect(try await rows(store, "SELECT COUNT(*) AS n FROM prompts") == 150, "three baseline prompts each, none planned twice")
        #expect(try await rows(store, "SELECT COUNT(*) AS n FROM outbox_messages WHERE status <> 'accepted'") == 0, "nothing left behind")
        let runs = try await store.serviceRuns().filter { $0.service == "scheduler" }
        #expect(Set(runs.map(\.instance)).count == 3, "each instance recorded its scheduler runs: \(runs.map { "\($0.instance) \($0.outcome)" })")
        try await store.close()
        for index in serves.indices where serves[index].process.isRunning {
            serves[index].process.terminate()
            #expect(serves[index].finish().status == 0, "stops cleanly on SIGTERM")
        }
        serves.removeAll()
    }
}
