import Foundation
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// `kill -9` of `rom dispatch` between the gateway accepting a message and the status write (R2).
@Suite("Dispatcher crashes", .serialized)
struct CrashTests {
    static var binary: String { "\(Fixtures.repositoryRoot)/.build/debug/rom" }

    @Test("20 kills between accept and record: nothing is lost, and every duplicate carries the same idempotency key")
    func killNineTwentyTimes() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, dispatcherConcurrency: 1)
        let people = (1...5).map { "p\($0),Ana,+44770090000\($0),,,community,2026-11-02,,north" }
        try await harness.seed(people.joined(separator: "\n"))
        let pidFile = "\(harness.config)/dispatcher.pid"
        let start = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        let formatter = ISO8601DateFormatter()
        func dispatch(at now: Date) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = ["dispatch", "--once", "--config", harness.config, "--now", formatter.string(from: now)]
            process.environment = ProcessInfo.processInfo.environment.merging([
                "ROM_DATABASE_URL": harness.databaseURL, "TEST_SMS_TOKEN": "token-123", "TEST_SIGNING_SECRET": Harness.signingSecret, "TEST_SMS_AUTH": "12345",
            ]) { _, new in new }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try String(process.processIdentifier).write(toFile: pidFile, atomically: true, encoding: .utf8)
            return process
        }
        try receiver.setMode("kill:\(pidFile)")
        var killed = 0
        for round in 0..<20 {
            // Each round starts after the previous round's lease (60 s) ran out.
            let process = try dispatch(at: start.addingTimeInterval(Double(round) * 61))
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL { killed += 1 }
            let sending = try await harness.env.store.outboxRows().filter { $0.status == "sending" }.count
            #expect(sending > 0, "round \(round): the killed send stays claimed, not recorded")
        }
        #expect(killed == 20)
        try receiver.setMode("ok")
        let final = try dispatch(at: start.addingTimeInterval(21 * 61))
        final.waitUntilExit()
        #expect(final.terminationStatus == 0)

        let rows = try await harness.env.store.outboxRows()
        #expect(rows.count == 15)
        #expect(rows.allSatisfy { $0.status == "accepted" }, "every message ends accepted: \(rows.map(\.status))")
        let requests = receiver.requests()
        let keys = Set(rows.map(\.key))
        var copies: [String: (killed: Int, ok: Int)] = [:]
        for request in requests {
            let key = request.headers["webhook-id"] ?? ""
            #expect(request.headers["idempotency-key"] == "\"\(key)\"")
            var count = copies[key] ?? (0, 0)
            if request.mode.hasPrefix("kill:") { count.killed += 1 } else { count.ok += 1 }
            copies[key] = count
        }
        #expect(Set(copies.keys).isSubset(of: keys), "no request carries a key that is not a message's")
        #expect(copies.count == 5, "every person's message arrived")
        for (key, count) in copies {
            #expect(count.ok == 1, "\(key) was delivered \(count.ok) times after the crashes")
        }
        #expect(copies.values.map(\.killed).reduce(0, +) == 20, "one copy per crash, each with its message's own key")
        await harness.close()
    }

    @Test("On SQLite a second dispatcher is refused while the first runs, naming it; the lock goes with the process, even on kill -9 (R12)",
          .disabled(if: Fixtures.onPostgres, "SQLite only: on PostgreSQL several dispatchers run together"))
    func oneDispatcher() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let environment = ProcessInfo.processInfo.environment.merging(["ROM_DATABASE_URL": harness.databaseURL]) { _, new in new }
        func start(_ arguments: [String]) throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = arguments + ["--config", harness.config]
            process.environment = environment.merging(["ROM_LISTEN": "127.0.0.1:\(Int.random(in: 20_000...40_000))"]) { _, new in new }
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            return (process, errors)
        }
        /// Runs to the end, or is killed after 20 s (a second dispatcher that was not refused would run on).
        func finish(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
            let (process, errors) = try start(arguments)
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let lockFile = String(harness.databaseURL.dropFirst("sqlite:".count)) + ".dispatcher-lock"
        let (first, _) = try start(["dispatch"])
        let note = "rom dispatch, pid \(first.processIdentifier)"
        for _ in 0..<200 where (try? String(contentsOfFile: lockFile, encoding: .utf8))?.contains(note) != true { usleep(50_000) }
        #expect(try String(contentsOfFile: lockFile, encoding: .utf8).contains(note))

        let second = try finish(["dispatch", "--once"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another dispatcher is running on this database (\(note))"), "\(second.stderr)")
        let serve = try finish(["serve"])
        #expect(serve.status == 1 && serve.stderr.contains("another dispatcher is running"), "\(serve.stderr)")

        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let after = try finish(["dispatch", "--once"])
        #expect(after.status == 0, "the kernel released the killed dispatcher's lock: \(after.stderr)")
        await harness.close()
    }

    @Test("On PostgreSQL eight dispatchers side by side send 600 check-ins: each exactly once, none claimed twice, none lost (R5)",
          .enabled(if: Fixtures.onPostgres, "PostgreSQL only: on SQLite a second dispatcher is refused"), arguments: 1...3)
    func eightDispatchers(round: Int) async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        // Claims of 30 rows (ten check-ins): the eight processes and their two passes each take many.
        let harness = try await Harness.make(receiver: receiver, smtp: nil, dispatcherBatch: 30)
        let people = (0..<600).map { String(format: "p%03d,Ana,+447700%06d,,,community,2026-11-02,,north", $0, $0) }
        try await harness.seed(people.joined(separator: "\n"))
        let now = ISO8601DateFormatter().string(from: ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        let processes = try (0..<8).map { _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = ["dispatch", "--once", "--config", harness.config, "--now", now]
            process.environment = ProcessInfo.processInfo.environment.merging([
                "ROM_DATABASE_URL": harness.databaseURL, "TEST_SMS_TOKEN": "token-123", "TEST_SIGNING_SECRET": Harness.signingSecret, "TEST_SMS_AUTH": "12345",
            ]) { _, new in new }
            let output = Pipe(), errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            return (process, output, errors)
        }
        var failures: [String] = []
        var claimed: [Int] = []
        for (process, output, errors) in processes {
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if process.terminationStatus != 0 { failures.append(String(text.suffix(600))) }
            // "Claimed N: …" — how many messages this process took.
            claimed.append(Int(said.split(separator: " ").dropFirst().first?.dropLast() ?? "") ?? -1)
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(claimed.reduce(0, +) == 600, "\(claimed)")
        #expect(claimed.filter { $0 > 0 }.count >= 2, "the dispatchers shared the work: \(claimed)")
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.count == 1_800 && rows.allSatisfy { $0.status == "accepted" && $0.attempt == 1 }, "every row sent on its first claim")
        var perKey: [String: Int] = [:]
        for request in receiver.requests() { perKey[request.headers["webhook-id"] ?? "", default: 0] += 1 }
        #expect(perKey.count == 600, "every check-in arrived")
        #expect(perKey.values.allSatisfy { $0 == 1 }, "no duplicates: \(perKey.filter { $0.value > 1 }.count) keys sent more than once")
        await harness.close()
    }
}
