import Delivery
import Foundation
import Intake
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// `kill -9` of `rom dispatch` between the gateway accepting a message and the status write (R2).
@Suite("Dispatcher crashes", .serialized)
struct CrashTests {
    /// What `rom dispatch` needs to reach the harness's database and its test gateways' secrets.
    func dispatcherEnvironment(_ harness: Harness) -> [String: String] {
        ["ROM_DATABASE_URL": harness.databaseURL, "TEST_SMS_TOKEN": "token-123", "TEST_SIGNING_SECRET": Harness.signingSecret, "TEST_SMS_AUTH": "12345"]
    }

    @Test("100 kills between accept and record (R2 at its recipe's scale): nothing is lost, at most one duplicate per crash, and every duplicate carries its message's idempotency key")
    func killBetweenAcceptAndRecord() async throws {
        let rounds = 100
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        // One send in flight at a time (one pass, one send per pass), so a kill interrupts exactly one send.
        let harness = try await Harness.make(receiver: receiver, smtp: nil, dispatcherConcurrency: 1, dispatchPasses: 1)
        let people = (1...5).map { "p\($0),Ana,+44770090000\($0),,,community,2026-11-02,,north" }
        try await harness.seed(people.joined(separator: "\n"))
        let pidFile = "\(harness.config)/dispatcher.pid"
        let start = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
        let formatter = ISO8601DateFormatter()
        func dispatch(at now: Date) throws -> Subprocess {
            // The receiver kills the pid in the file; gone until this process's pid is in it (see http_receiver.py).
            try? FileManager.default.removeItem(atPath: pidFile)
            let process = try Subprocess(Subprocess.rom, ["dispatch", "--once", "--config", harness.config, "--now", formatter.string(from: now)],
                                         environment: dispatcherEnvironment(harness))
            try String(process.pid).write(toFile: pidFile, atomically: true, encoding: .utf8)
            return process
        }
        try receiver.setMode("kill:\(pidFile)")
        var killed = 0
        for round in 0..<rounds {
            // Each round starts after the previous round's lease (60 s) ran out.
            let process = try dispatch(at: start.addingTimeInterval(Double(round) * 61))
            let outcome = process.finish()
            if process.process.terminationReason == .uncaughtSignal && outcome.status == SIGKILL { killed += 1 }
            let sending = try await harness.env.store.outboxRows().filter { $0.status == "sending" }.count
            #expect(sending > 0, "round \(round): the killed send stays claimed, not recorded")
        }
        #expect(killed == rounds)
        try receiver.setMode("ok")
        let final = try dispatch(at: start.addingTimeInterval(Double(rounds + 1) * 61)).finish()
        #expect(final.status == 0, "\(final.stderr)")

        let rows = try await harness.env.store.outboxRows()
        #expect(rows.count == 5, "five check-ins, a message each")
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
        #expect(copies.values.map(\.killed).reduce(0, +) == rounds, "one copy per crash, each with its message's own key")
        await harness.close()
    }

    @Test("kill -9 of rom schedule between a prompt's row and its outbox row (R1: 100 kills here, 1,000 in scripts/faults): never an orphan prompt or an orphan outbox row; the next tick plans what the kills cut short")
    func killBetweenPromptAndOutbox() async throws {
        let rounds = Fixtures.faultScale(ci: 100, full: 1_000)
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        // A person per round, so the kills (each inside one enrolment's transaction) always find prompts to write.
        let people = (0..<rounds).map { String(format: "p%04d,Ana,+447700%06d,,,community,2026-11-02,,north", $0, $0) }
        let imported = try await PeopleImporter(env: harness.env).importCSV("id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n" + people.joined(separator: "\n") + "\n", partial: false)
        try #require(imported.problems.isEmpty)
        let now = "2026-11-02T08:00:00Z"
        func schedule(failpoint: String?) throws -> (outcome: Subprocess.Outcome, killed: Bool) {
            var environment = dispatcherEnvironment(harness)
            if let failpoint { environment["ROM_FAILPOINT"] = failpoint }
            let process = try Subprocess(Subprocess.rom, ["schedule", "--config", harness.config, "--now", now], environment: environment)
            let outcome = process.finish()
            return (outcome, process.process.terminationReason == .uncaughtSignal && outcome.status == SIGKILL)
        }
        func orphans() async throws -> (prompts: Int, outbox: Int) {
            try await harness.env.store.read { db in
                let prompts = try await db.raw("SELECT COUNT(*) AS n FROM prompts p WHERE NOT EXISTS (SELECT 1 FROM outbox_prompts l WHERE l.prompt_id = p.id)").first()?.decode(column: "n", as: Int.self)
                let outbox = try await db.raw("""
                    SELECT COUNT(*) AS n FROM outbox_messages o WHERE o.purpose IN ('prompt', 'reminder')
                    AND (NOT EXISTS (SELECT 1 FROM outbox_prompts l WHERE l.message_id = o.id)
                         OR EXISTS (SELECT 1 FROM outbox_prompts l WHERE l.message_id = o.id AND NOT EXISTS (SELECT 1 FROM prompts p WHERE p.id = l.prompt_id)))
                    """).first()?.decode(column: "n", as: Int.self)
                return (prompts ?? -1, outbox ?? -1)
            }
        }
        var killed = 0
        var found: [String] = []
        for round in 0..<rounds {
            // The k-th prompt write of this run, k from 1 to 6: inside the first or second enrolment still to plan,
            // after its first, second or third prompt.
            let run = try schedule(failpoint: "\(Failpoint.schedulePromptWritten):\(Int.random(in: 1...6))")
            if run.killed { killed += 1 } else { found.append("round \(round): exit \(run.outcome.status) \(run.outcome.stderr.suffix(300))") }
            let left = try await orphans()
            if left != (0, 0) { found.append("round \(round): \(left.prompts) prompts without an outbox row, \(left.outbox) outbox rows without a prompt") }
        }
        #expect(killed == rounds, "every run was killed at its failpoint")
        #expect(found.isEmpty, "\(found.prefix(5))")
        let final = try schedule(failpoint: nil)
        #expect(final.outcome.status == 0 && !final.killed, "\(final.outcome.stderr)")
        #expect(try await orphans() == (0, 0))
        // Everyone is planned alike once the kills stop: the same prompts each, each linked to its one outbox message.
        let perPerson = try await harness.env.store.read { db in
            try await db.raw("SELECT p.person_id, COUNT(*) AS n, COUNT(l.message_id) AS queued FROM prompts p LEFT JOIN outbox_prompts l ON l.prompt_id = p.id GROUP BY p.person_id").all()
                .map { (try $0.decode(column: "n", as: Int.self), try $0.decode(column: "queued", as: Int.self)) }
        }
        #expect(perPerson.count == rounds, "every person has prompts")
        #expect(Set(perPerson.map(\.0)).count == 1 && (perPerson.first?.0 ?? 0) >= 3 && perPerson.allSatisfy { $0.0 == $0.1 }, "\(Set(perPerson.map(\.0)))")
        print("R1 figures: \(killed) kills of rom schedule between a prompt's row and its outbox row, \(found.count) orphans found after them; then \(perPerson.map(\.0).reduce(0, +)) prompts for \(rounds) people, each with its outbox row")
        await harness.close()
    }

    @Test("kill -9 of rom serve right after it answers inbound SMS, 100 times: after restart every stored reply is processed exactly once, every risk answer has its flag and one team alert (R36)")
    func killServeDuringReplyProcessing() async throws {
        let harness = try await Harness.make(receiver: try HTTPReceiver(), smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        try await harness.env.store.transaction { db in
            try await db.raw("UPDATE prompts SET reply_code = 'P1' WHERE instrument = 'phq9'").run()
        }
        /// Starts `rom serve` on a fresh port (another port if it exits, e.g. the port was taken).
        func startServe() async throws -> (Subprocess, String) {
            try await Subprocess.serve(["--config", harness.config, "--now", "2026-11-03T10:00:00Z"], environment: dispatcherEnvironment(harness))
        }
        /// A signed SMS; returns the HTTP status.
        func send(_ base: String, _ id: String, _ text: String) async throws -> String {
            let pairs = [("MessageSid", id), ("From", "+447700900001"), ("Body", text)]
            let signature = TwilioSignature.expected(url: "\(base)/inbound/sms/test-sms", parameters: pairs, authToken: "12345")
            let body = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            return try await Subprocess.runAsync("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "-H", "X-Twilio-Signature: \(signature)",
                                                        "-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", body,
                                                        "\(base)/inbound/sms/test-sms"]).stdout
        }
        var stored = 0, risky: Set<String> = [], refused: [String] = []
        // Replies a kill left stored but unprocessed, summed over the rounds (each is picked up at the next start-up).
        var leftPending = 0
        for round in 0..<100 {
            let (serve, base) = try await startServe()
            for index in 0..<3 {
                let id = "SM\(round)-\(index)"
                let risk = index == 0
                let status = try await send(base, id, "P1 1 1 1 1 1 1 1 1 \(risk ? 2 : 0)")
                if status == "200" {
                    stored += 1
                    if risk { risky.insert(id) }
                } else {
                    refused.append("\(id): \(status)")
                }
            }
            // Killed the moment it has answered: processing (and the alert) may not have happened yet.
            kill(serve.pid, SIGKILL)
            _ = serve.finish()
            leftPending += try await harness.env.store.pendingReplies(source: "sms").count
        }
        #expect(stored == 300, "every request was answered 200 before the kill: \(refused)")
        print("R36: kills left \(leftPending) stored replies unprocessed over 100 rounds")
        let (final, _) = try await startServe()
        try await Task.sleep(for: .milliseconds(300))
        kill(final.pid, SIGTERM)
        _ = final.finish()

        let store = harness.env.store
        let replies = try await store.transaction { db in
            try await db.raw("SELECT id, provider_event_id, status FROM inbound_replies WHERE source = 'sms'").all().map {
                (id: try $0.decode(column: "id", as: String.self), event: try $0.decode(column: "provider_event_id", as: String.self),
                 status: try $0.decode(column: "status", as: String.self))
            }
        }
        #expect(replies.count == stored, "each delivery stored once")
        #expect(replies.allSatisfy { $0.status == "processed" }, "none left unprocessed: \(replies.filter { $0.status != "processed" }.map(\.event))")
        let perReply = try await store.transaction { db in
            try await db.raw("SELECT inbound_reply_id, COUNT(*) AS n FROM responses WHERE inbound_reply_id IS NOT NULL GROUP BY inbound_reply_id").all().map {
                (try $0.decode(column: "inbound_reply_id", as: String.self), try $0.decode(column: "n", as: Int.self))
            }
        }
        #expect(perReply.count == stored && perReply.allSatisfy { $0.1 == 1 }, "exactly one response per reply")
        let flagged = try await store.transaction { db in
            try await db.raw("""
                SELECT r.provider_event_id AS event, COUNT(f.id) AS n FROM flags f JOIN inbound_replies r ON r.id = f.inbound_reply_id
                WHERE f.kind = 'PHQ9_ITEM9_POSITIVE' GROUP BY r.provider_event_id
                """).all().map { (try $0.decode(column: "event", as: String.self), try $0.decode(column: "n", as: Int.self)) }
        }
        #expect(Set(flagged.map(\.0)) == risky && flagged.allSatisfy { $0.1 == 1 }, "every risk answer has exactly one flag")
        _ = try await harness.env.queueFlagAlerts(now: harness.clock.now)
        let alerts = try await store.transaction { db in
            try await db.raw("SELECT idempotency_key FROM outbox_messages WHERE purpose = 'team_alert'").all().map { try $0.decode(column: "idempotency_key", as: String.self) }
        }
        #expect(alerts.count == risky.count && Set(alerts).count == alerts.count, "one team alert per risk flag")
        await harness.close()
    }

    @Test("On SQLite a second dispatcher is refused while the first runs, naming it; the lock goes with the process, even on kill -9 (R12)",
          .disabled(if: Fixtures.onPostgres, "SQLite only: on PostgreSQL several dispatchers run together"))
    func oneDispatcher() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        func start(_ arguments: [String]) throws -> Subprocess {
            try Subprocess(Subprocess.rom, arguments + ["--config", harness.config],
                           environment: ["ROM_DATABASE_URL": harness.databaseURL, "ROM_LISTEN": "127.0.0.1:\(Int.random(in: 20_000...32_700))"])
        }
        /// Runs to the end, or is killed after 20 s (a second dispatcher that was not refused would run on).
        func finish(_ arguments: [String]) throws -> Subprocess.Outcome {
            try start(arguments).finish(deadline: Date().addingTimeInterval(20))
        }
        let lockFile = String(harness.databaseURL.dropFirst("sqlite:".count)) + ".dispatcher-lock"
        let first = try start(["dispatch"])
        let note = "rom dispatch, pid \(first.pid)"
        for _ in 0..<200 where (try? String(contentsOfFile: lockFile, encoding: .utf8))?.contains(note) != true { usleep(50_000) }
        #expect(try String(contentsOfFile: lockFile, encoding: .utf8).contains(note))

        let second = try finish(["dispatch", "--once"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another dispatcher is running on this database (\(note))"), "\(second.stderr)")
        let serve = try finish(["serve"])
        #expect(serve.status == 1 && serve.stderr.contains("another dispatcher is running"), "\(serve.stderr)")

        kill(first.pid, SIGKILL)
        _ = first.finish()
        let after = try finish(["dispatch", "--once"])
        #expect(after.status == 0, "the kernel released the killed dispatcher's lock: \(after.stderr)")
        await harness.close()
    }

    @Test("On PostgreSQL eight dispatchers side by side send 600 check-ins (10,000 × 5 rounds in scripts/faults): each exactly once, none claimed twice, none lost (R5)",
          .enabled(if: Fixtures.onPostgres, "PostgreSQL only: on SQLite a second dispatcher is refused"), arguments: 1...Fixtures.faultScale(ci: 3, full: 5))
    func eightDispatchers(round: Int) async throws {
        let count = Fixtures.faultScale(ci: 600, full: 10_000)
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        // Claims of 30 rows (ten check-ins): the eight processes and their two passes each take many.
        let harness = try await Harness.make(receiver: receiver, smtp: nil, dispatcherBatch: 30)
        let people = (0..<count).map { String(format: "p%05d,Ana,+447700%06d,,,community,2026-11-02,,north", $0, $0) }
        try await harness.seed(people.joined(separator: "\n"))
        let now = ISO8601DateFormatter().string(from: ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        let processes = try (0..<8).map { _ in
            try Subprocess(Subprocess.rom, ["dispatch", "--once", "--config", harness.config, "--now", now], environment: dispatcherEnvironment(harness))
        }
        var failures: [String] = []
        var claimed: [Int] = []
        for process in processes {
            let outcome = process.finish()
            if outcome.status != 0 { failures.append(String(outcome.stderr.suffix(600))) }
            // "Claimed N: …" — how many messages this process took.
            claimed.append(Int(outcome.stdout.split(separator: " ").dropFirst().first?.dropLast() ?? "") ?? -1)
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(claimed.reduce(0, +) == count, "\(claimed)")
        #expect(claimed.filter { $0 > 0 }.count >= 2, "the dispatchers shared the work: \(claimed)")
        let rows = try await harness.env.store.outboxRows()
        #expect(rows.count == count && rows.allSatisfy { $0.status == "accepted" && $0.attempt == 1 }, "every message sent on its first claim")
        var perKey: [String: Int] = [:]
        for request in receiver.requests() { perKey[request.headers["webhook-id"] ?? "", default: 0] += 1 }
        #expect(perKey.count == count, "every check-in arrived")
        #expect(perKey.values.allSatisfy { $0 == 1 }, "no duplicates: \(perKey.filter { $0.value > 1 }.count) keys sent more than once")
        print("R5 figures: round \(round), \(count) check-ins, claims per process \(claimed), \(perKey.count) keys, \(perKey.values.filter { $0 > 1 }.count) duplicates")
        await harness.close()
    }
}

