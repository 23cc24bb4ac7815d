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
}
