import Foundation
import Intake
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import SQLKit
import Scheduling
@testable import Storage
import Synchronization
import Testing

@Suite("Scheduler over the store")
struct SchedulerTests {
    static let header = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team,next_review,mode"

    func instant(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func seed(_ env: ServiceEnvironment, _ rows: String) async throws {
        let outcome = try await PeopleImporter(env: env).importCSV("\(Self.header)\n\(rows)\n", partial: false)
        #expect(outcome.problems.isEmpty, "\(outcome.problems)")
    }

    @Test("A tick writes one outbox message per check-in, every prompt linked to exactly one, and a second tick adds nothing")
    func promptsWithOutbox() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,\np2,Ben,,ben@example.org,,core,2026-11-02,,north,,")
            let runner = SchedulerRunner(env: env)
            let first = try await runner.tick(now: instant("2026-11-02T08:00:00Z"))
            #expect(first.created == 5, "3 baseline measures for community + 2 for core")
            let again = try await runner.tick(now: instant("2026-11-02T08:00:00Z"))
            #expect(again == AppliedPlan())
            let orphans = try await env.store.read { db in
                try await db.raw("""
                    SELECT (SELECT COUNT(*) FROM prompts) AS prompts,
                           (SELECT COUNT(*) FROM outbox_messages WHERE purpose = 'prompt') AS outbox,
                           (SELECT COUNT(*) FROM outbox_prompts l LEFT JOIN prompts p ON p.id = l.prompt_id WHERE p.id IS NULL) AS orphans,
                           (SELECT COUNT(*) FROM prompts p WHERE (SELECT COUNT(*) FROM outbox_prompts l WHERE l.prompt_id = p.id) <> 1) AS unlinked,
                           (SELECT COUNT(*) FROM outbox_prompts l JOIN outbox_messages o ON o.id = l.message_id JOIN prompts p ON p.id = l.prompt_id
                            WHERE o.person_id <> p.person_id) AS crossed,
                           (SELECT COUNT(*) FROM outbox_messages WHERE channel = 'email' AND person_id = 'p2') AS email
                    """).first()
            }
            #expect(try orphans?.decode(column: "prompts", as: Int.self) == 5)
            #expect(try orphans?.decode(column: "outbox", as: Int.self) == 2, "one message per person's baseline check-in")
            #expect(try orphans?.decode(column: "orphans", as: Int.self) == 0)
            #expect(try orphans?.decode(column: "unlinked", as: Int.self) == 0)
            #expect(try orphans?.decode(column: "crossed", as: Int.self) == 0)
            #expect(try orphans?.decode(column: "email", as: Int.self) == 1, "the outbox uses the pathway's preferred channel the person has")
        }
    }

    @Test("A check-in's reminder goes as one message carrying its three prompts, under its first prompt's key; a repeat tick adds none")
    func reminderIsOneMessage() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,")
            let runner = SchedulerRunner(env: env)
            _ = try await runner.tick(now: instant("2026-11-02T08:00:00Z"))
            // Sent, as the dispatcher records it; the baseline's first reminder is at 4 Nov, 09:00 (see `incremental`).
            try await env.store.transaction { db in try await db.raw("UPDATE prompts SET status = 'sent'").run() }
            let reminded = try await runner.tick(now: instant("2026-11-04T09:00:30Z"))
            #expect(reminded.reminded == 3, "each of the three prompts is reminded")
            #expect(try await runner.tick(now: instant("2026-11-04T09:01:30Z")).reminded == 0)
            let reminders = try await env.store.outboxRows().filter { $0.purpose == "reminder" }
            #expect(reminders.count == 1)
            let links = try await env.store.read { db in
                try await db.raw("SELECT prompt_id FROM outbox_prompts WHERE message_id = \(bind: reminders.first?.id ?? "") ORDER BY prompt_id").all()
                    .map { try $0.decode(column: "prompt_id", as: String.self) }
            }
            let prompts = try await env.store.read { db in
                try await db.raw("SELECT id FROM prompts ORDER BY id").all().map { try $0.decode(column: "id", as: String.self) }
            }
            #expect(links == prompts && prompts.count == 3)
            #expect(reminders.first.map { $0.key.hasSuffix(":r0") && prompts.contains(String($0.key.dropLast(3))) } == true, "\(reminders.map(\.key))")
        }
    }

    @Test("The unique key (enrolment, review, instrument, kind) refuses a second identical prompt")
    func uniqueKey() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,")
            _ = try await SchedulerRunner(env: env).tick(now: instant("2026-11-02T08:00:00Z"))
            await #expect(throws: (any Error).self) {
                try await env.store.transaction { db in
                    try await db.raw("""
                        INSERT INTO prompts (id, enrolment_id, review_id, person_id, instrument, kind, send_at_ms, closes_at_ms, status, idempotency_key, created_at_ms)
                        SELECT 'dup', enrolment_id, review_id, person_id, instrument, kind, send_at_ms, closes_at_ms, status, 'dup', 0 FROM prompts LIMIT 1
                        """).run()
                }
            }
        }
    }

    @Test("Expiry closes the outbox rows that were never sent, with a transition; missed check-ins are recorded")
    func expiryClosesOutbox() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,")
            let runner = SchedulerRunner(env: env)
            _ = try await runner.tick(now: instant("2026-11-02T08:00:00Z"))
            let later = try await runner.tick(now: instant("2026-11-16T00:00:00Z"))
            #expect(later.expired == 3)
            let counts = try await env.store.schedulingCounts()
            #expect(counts.prompts["expired"] == 3)
            #expect(counts.outbox["expired"] == 1, "the check-in's one message")
            #expect(counts.outbox["queued"] == nil)
            #expect(counts.missed == 1)
            let transitions = try await env.store.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM outbox_transitions WHERE to_status = 'expired'").first()?.decode(column: "n", as: Int.self)
            }
            #expect(transitions == 1)
        }
    }

    @Test("Switching to step-up through the API re-plans at once: the open check-in's prompts expire as replanned, weekly ones are created")
    func modeSwitchAPI() async throws {
        let now = instant("2026-11-27T12:00:00Z")
        try await Fixtures.withEnvironment(now: now) { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,")
            _ = try await SchedulerRunner(env: env).tick(now: instant("2026-11-24T12:00:00Z"))
            let token = Credentials.newSecret(prefix: "rom_clinician")
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(token), role: .clinician, team: "north", label: nil, now: now)
            try await Application(router: Routes.router(env)).test(.router) { client in
                let response = try await client.execute(uri: "/api/v1/people/p1/mode", method: .put,
                                                        headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                        body: ByteBuffer(string: #"{"mode": "step_up"}"#))
                #expect(response.status == .ok)
            }
            // The weekly review's check-in opens on 29 November; a tick the day before queues it.
            _ = try await SchedulerRunner(env: env).tick(now: instant("2026-11-28T12:00:00Z"))
            let reasons = try await env.store.read { db in
                try await db.raw("SELECT review_id, status, status_reason FROM prompts WHERE kind = 'pre_review' ORDER BY review_id").all().map {
                    "\(try $0.decode(column: "review_id", as: String.self)) \(try $0.decode(column: "status", as: String.self)) \(try $0.decode(column: "status_reason", as: String?.self) ?? "-")"
                }
            }
            #expect(reasons.filter { $0 == "c:2026-11-30 expired replanned" }.count == 3)
            #expect(reasons.filter { $0 == "c:2026-12-04 scheduled -" }.count == 3)
        }
    }

    @Test("Booking and moving a review through the API; a next_review CSV column books one at import")
    func bookedReviews() async throws {
        let now = instant("2026-12-05T10:00:00Z")
        try await Fixtures.withEnvironment(now: now) { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,2026-12-10,\np2,Ben,+447700900002,,,community,2026-11-02,,north,,step_up")
            let ops = Credentials.newSecret(prefix: "rom_ops")
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(ops), role: .ops, team: nil, label: nil, now: now)
            #expect(try await SchedulerRunner(env: env).tick(now: now, personID: "p1").created == 3, "the booked review's check-in opened at 09:00")
            let inputs = try await env.store.schedulingInputs(personID: "p1") { _ in "Europe/London" }
            let booking = try #require(inputs.first?.booked.first)
            #expect(booking.at == Int64(instant("2026-12-10T09:00:00Z").timeIntervalSince1970), "a date books 09:00 local")
            #expect(try await env.store.schedulingInputs(personID: "p2") { _ in "Europe/London" }.first?.enrolment.mode == .stepUp)
            try await Application(router: Routes.router(env)).test(.router) { client in
                let moved = try await client.execute(uri: "/api/v1/people/p1/reviews", method: .post,
                                                     headers: [.authorization: "Bearer \(ops)", .contentType: "application/json"],
                                                     body: ByteBuffer(string: #"{"id": "\#(booking.id)", "at": "2026-12-17T14:00:00Z"}"#))
                #expect(moved.status == .ok)
                let bad = try await client.execute(uri: "/api/v1/people/p1/reviews", method: .post,
                                                   headers: [.authorization: "Bearer \(ops)", .contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"at": "next tuesday"}"#))
                #expect(bad.status == .unprocessableContent)
            }
            let rows = try await env.store.read { db in
                try await db.raw("SELECT closes_at_ms FROM prompts WHERE review_id = \(bind: "b:\(booking.id)")").all().map { try $0.decode(column: "closes_at_ms", as: Int64.self) }
            }
            #expect(rows.count == 3)
            #expect(rows.allSatisfy { $0 == Int64(instant("2026-12-16T14:00:00Z").timeIntervalSince1970) * 1000 }, "closes 1 day before the moved review: \(rows)")
        }
    }

    @Test("rom schedule --dry-run writes nothing")
    func dryRunWritesNothing() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,")
            let rows = try await SchedulerRunner(env: env).dryRun(now: instant("2026-11-02T08:00:00Z"), days: 30)
            #expect(rows.filter { $0.action == "send" }.count == 6)
            #expect(rows.filter { $0.action == "remind" }.count == 6)
            #expect(rows.filter { $0.action == "expire" }.count == 6)
            let counts = try await env.store.schedulingCounts()
            #expect(counts.prompts.isEmpty && counts.outbox.isEmpty)
        }
    }

    /// Each enrolment's attention instant (UTC ms), by person.
    func attention(_ env: ServiceEnvironment) async throws -> [String: Int64] {
        try await env.store.read { db in
            var result: [String: Int64] = [:]
            for row in try await db.raw("SELECT person_id, attention_at_ms FROM enrolments").all() {
                result[try row.decode(column: "person_id", as: String.self)] = try row.decode(column: "attention_at_ms", as: Int64.self)
            }
            return result
        }
    }

    func prompts(_ env: ServiceEnvironment, _ person: String) async throws -> [String] {
        try await env.store.read { db in
            try await db.raw("SELECT review_id FROM prompts WHERE person_id = \(bind: person) ORDER BY review_id, instrument").all()
                .map { try $0.decode(column: "review_id", as: String.self) }
        }
    }

    @Test("An incremental tick plans only the enrolments whose attention has come; a full tick plans everyone; a booking and a mode switch bring an enrolment back at once")
    func incremental() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, ["p1", "p2", "p3"].map { "\($0),Ana,+4477009000\($0.dropFirst()),,,community,2026-11-02,,north,," }.joined(separator: "\n"))
            let runner = SchedulerRunner(env: env)
            let now = instant("2026-11-02T08:00:00Z")
            #expect(try await runner.tick(now: now).created == 9, "new enrolments are due at once: three baseline prompts each")
            // The baseline's reminder (4 Nov, 09:00) is the first thing any of them needs.
            let first = try await attention(env)
            #expect(first.count == 3 && first.values.allSatisfy { $0 == instant("2026-11-04T09:00:00Z").millis }, "\(first)")
            // p2's prompts vanish behind the scheduler's back: an incremental tick does not look at p2, a full one does.
            try await env.store.transaction { db in
                try await db.raw("DELETE FROM outbox_transitions WHERE message_id IN (SELECT id FROM outbox_messages WHERE person_id = 'p2')").run()
                try await db.raw("DELETE FROM outbox_prompts WHERE message_id IN (SELECT id FROM outbox_messages WHERE person_id = 'p2')").run()
                try await db.raw("DELETE FROM outbox_messages WHERE person_id = 'p2'").run()
                try await db.raw("DELETE FROM prompts WHERE person_id = 'p2'").run()
            }
            #expect(try await runner.tick(now: now.addingTimeInterval(60)) == AppliedPlan(), "nobody is due a minute later")
            #expect(try await prompts(env, "p2").isEmpty)
            #expect(try await runner.tick(now: now.addingTimeInterval(120), full: true).created == 3)
            #expect(try await prompts(env, "p2").count == 3)
            // A review booked for p3 on 25 Nov brings p3 back at once; its prompts come when its check-in (opening
            // 20 Nov, 14:00) is within the horizon, from ticks that read only who is due.
            let booked = try await env.store.bookReview(personID: "p3", reviewID: nil, at: instant("2026-11-25T14:00:00Z"), now: now)
            #expect(try await attention(env)["p3"] == 0)
            _ = try await runner.tick(now: now.addingTimeInterval(180))
            #expect(try await attention(env)["p3"] ?? 0 > now.millis)
            for day in ["2026-11-04T09:00:00Z", "2026-11-16T00:00:00Z", "2026-11-19T14:00:00Z"] {
                _ = try await runner.tick(now: instant(day))
            }
            let p3 = try await prompts(env, "p3")
            #expect(p3.filter { $0 == "b:\(booked)" }.count == 3, "\(p3)")
            // p1 steps up: the next tick re-plans p1 (its next review moves to a week after the switch).
            let switched = instant("2026-11-19T15:00:00Z")
            try await env.store.setMode(personID: "p1", mode: .stepUp, now: switched)
            #expect(try await attention(env)["p1"] == 0)
            _ = try await runner.tick(now: switched.addingTimeInterval(60))
            let next = try await attention(env)
            #expect(next["p1"] ?? 0 > switched.millis, "p1 planned and given its next instant")
            #expect(next["p2"] ?? 0 > instant("2026-11-19T14:00:00Z").millis, "p2 not due before its own next instant")
        }
    }

    @Test("An incremental tick pages through more enrolments than a page holds, in attention order: 2,300 due at the same instant, then at scattered ones, each planned once")
    func pagesInAttentionOrder() async throws {
        try await Fixtures.withEnvironment { env in
            let people = (0..<2_300).map { "p\($0)" }
            try await seed(env, people.enumerated().map { "\($1),Ana,+447700\(String(900_000 + $0)),,,community,2026-11-02,,north,," }.joined(separator: "\n"))
            let runner = SchedulerRunner(env: env)
            let now = instant("2026-11-02T08:00:00Z")
            // Every new enrolment's instant is 0: three pages (1,000 each) with one instant, walked by id within it.
            #expect(try await runner.tick(now: now).created == 2_300 * 3, "three baseline prompts each")
            let first = try await attention(env)
            #expect(first.count == 2_300 && first.values.allSatisfy { $0 == instant("2026-11-04T09:00:00Z").millis })
            // Scattered instants, all come by the next tick (some equal, in an order unlike the ids').
            try await env.store.transaction { db in
                try await db.raw("UPDATE enrolments SET attention_at_ms = \(bind: now.millis) - (CAST(SUBSTR(person_id, 2) AS INTEGER) * 7919) % 5000").run()
            }
            #expect(try await runner.tick(now: now.addingTimeInterval(60)) == AppliedPlan(), "nothing new to do")
            let second = try await attention(env)
            #expect(second.values.allSatisfy { $0 == instant("2026-11-04T09:00:00Z").millis }, "every one of them was read and given its instant again")
            #expect(Set(try await env.store.read { db in
                try await db.raw("SELECT enrolment_id, COUNT(*) AS n FROM prompts GROUP BY enrolment_id").all().map { try $0.decode(column: "n", as: Int.self) }
            }) == [3])
        }
    }

    @Test("On PostgreSQL an import of 1,000 people and a tick that creates thousands of prompts refresh the planner's statistics at once",
          .enabled(if: Fixtures.onPostgres, "PostgreSQL only: SQLite keeps no statistics unless asked"))
    func statisticsAfterBulkWrites() async throws {
        try await Fixtures.withEnvironment { env in
            /// Whether `table` has been analysed, waiting up to 2 s for the statistics to show it (`tries: 1`: asked once).
            func analysed(_ table: String, tries: Int = 20) async throws -> Bool {
                for _ in 0..<tries {
                    let at = try await env.store.read { db in
                        try await db.raw("SELECT last_analyze IS NOT NULL AS done FROM pg_stat_user_tables WHERE relname = \(bind: table)").first()?
                            .decode(column: "done", as: Bool.self)
                    }
                    if at == true { return true }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return false
            }
            #expect(try await !analysed("enrolments", tries: 1), "a fresh database has no statistics yet")
            try await seed(env, (0..<1_000).map { "p\($0),Ana,+447700\(String(900_000 + $0)),,,community,2026-11-02,,north,," }.joined(separator: "\n"))
            #expect(try await analysed("enrolments"))
            #expect(try await !analysed("prompts", tries: 1))
            #expect(try await SchedulerRunner(env: env).tick(now: instant("2026-11-02T08:00:00Z")).created == 3_000)
            #expect(try await analysed("prompts"))
            #expect(try await analysed("outbox_messages"))
        }
    }

    @Test("A change that comes while a tick plans wins: the tick's attention is not written over the change's mark")
    func markDuringTick() async throws {
        try await Fixtures.withEnvironment { env in
            try await seed(env, "p1,Ana,+447700900001,,,community,2026-11-02,,north,,")
            let now = instant("2026-11-02T08:00:00Z")
            // The tick reads p1 ...
            let read = try await env.store.schedulingInputs(due: now) { _ in "Europe/London" }
            try #require(read.count == 1)
            // ... p1 steps up meanwhile ...
            try await env.store.setMode(personID: "p1", mode: .stepUp, now: now)
            // ... and the tick writes what it worked out from the old read: refused, p1 stays due.
            try await env.store.apply([], attention: [(read[0].enrolment.id, now.millis + 86_400_000, read[0].attentionVersion)], now: now)
            #expect(try await attention(env)["p1"] == 0)
            // A write from a fresh read goes through.
            let fresh = try await env.store.schedulingInputs(due: now) { _ in "Europe/London" }
            try await env.store.apply([], attention: [(fresh[0].enrolment.id, now.millis + 86_400_000, fresh[0].attentionVersion)], now: now)
            #expect(try await attention(env)["p1"] == now.millis + 86_400_000)
        }
    }

    @Test("A tick of four pages makes one SQLite commit when nobody else wants the database; a read that comes meanwhile gets in between pages")
    func tickSharesCommits() async throws {
        try await Fixtures.withEnvironment { env in
            let people = (1...(4 * SchedulerRunner.page)).map { String(format: "p%05d,Ana,+4477009%05d,,,community,2026-11-02,,north,,", $0, $0) }
            try await seed(env, people.joined(separator: "\n"))
            // No commit for time's sake (however slow this machine is today): only for a caller waiting.
            let runner = SchedulerRunner(env: env, hold: .seconds(3_600))
            let now = instant("2026-11-02T08:00:00Z")
            func prompts() async throws -> Int {
                try await env.store.read { db in try await db.raw("SELECT COUNT(*) AS n FROM prompts").first()!.decode(column: "n", as: Int.self) }
            }
            let before = env.store.committedTransactions
            let first = try await runner.tick(now: now)
            #expect(first.created == 3 * people.count, "each person's three baseline measures")
            if !Fixtures.onPostgres {
                #expect(env.store.committedTransactions - before == 1, "four pages, one commit")
            }
            // The same people again, planned from scratch (a process's first tick): reads that come meanwhile see some
            // pages written and not others, so they were let in between pages rather than after the whole tick.
            try await env.store.transaction { db in try await db.raw("DELETE FROM outbox_prompts").run() }
            try await env.store.transaction { db in try await db.raw("DELETE FROM outbox_transitions").run() }
            try await env.store.transaction { db in try await db.raw("DELETE FROM outbox_messages").run() }
            try await env.store.transaction { db in try await db.raw("DELETE FROM prompts").run() }
            let tick = Task { try await runner.tick(now: now, full: true) }
            // The reads run on the connection's own thread (on SQLite), yielding between them, so one is in line
            // whenever the tick finishes a page, however busy the machine's other threads are: from the shared pool,
            // a parallel test run once left the reader without a turn for the whole tick.
            let seen = try await withTaskExecutorPreference(env.store.connectionExecutor) {
                var seen: [Int] = []
                for _ in 0..<100_000 where seen.last != 3 * people.count {
                    seen.append(try await prompts())
                    await Task.yield()
                }
                return seen
            }
            #expect(try await tick.value.created == 3 * people.count)
            // With no commit for time's sake, a read sees part of the tick only when the tick committed for it.
            #expect(seen.contains { $0 > 0 && $0 < 3 * people.count }, "no read got in between pages: \(seen)")
        }
    }

    /// Six people enrolled, as (enrolment, person) in the order a full read walks them (by enrolment id).
    func sixEnrolled(_ env: ServiceEnvironment) async throws -> [(enrolment: String, person: String)] {
        try await seed(env, (1...6).map { String(format: "p%05d,Ana,+4477009%05d,,,community,2026-11-02,,north,,", $0, $0) }.joined(separator: "\n"))
        return try await env.store.read { db in
            try await db.raw("SELECT id, person_id FROM enrolments ORDER BY id").all().map {
                (try $0.decode(column: "id", as: String.self), try $0.decode(column: "person_id", as: String.self))
            }
        }
    }

    @Test("A tick in pages plans every enrolment once, the pages after the first beside the writes of the page before, and writes each one's attention")
    func pagesPlannedOnce() async throws {
        try await Fixtures.withEnvironment { env in
            let enrolled = try await sixEnrolled(env)
            let planned = Mutex<[String]>([])
            let before = env.store.committedTransactions
            _ = try await env.store.schedule(personID: nil, recordsSince: nil, due: nil, page: 2, now: instant("2026-11-02T08:00:00Z"), maxHold: .seconds(3_600),
                                             defaultTimezone: { _ in "Europe/London" }) { inputs in
                planned.withLock { $0 += inputs.map(\.enrolment.id) }
                return inputs.map { (nil, ($0.enrolment.id, 9_000_000, $0.attentionVersion)) }
            }
            // Planned twice would mean the page read ahead was thrown away with no commit in between.
            #expect(planned.withLock { $0 }.sorted() == enrolled.map(\.enrolment).sorted())
            if !Fixtures.onPostgres {
                #expect(env.store.committedTransactions - before == 1, "three pages, one commit")
            }
            #expect(try await attention(env) == Dictionary(uniqueKeysWithValues: enrolled.map { ($0.person, 9_000_000) }))
        }
    }

    @Test("On SQLite a page read ahead is read and planned again when a commit came before its write: a mode switch a waiting writer committed in between is what its plan sees",
          .enabled(if: !Fixtures.onPostgres, "SQLite only: PostgreSQL reads each page in its own step"))
    func plannedAheadAgainAfterCommit() async throws {
        try await Fixtures.withEnvironment { env in
            let enrolled = try await sixEnrolled(env)
            let now = instant("2026-11-02T08:00:00Z")
            // Pages of two: the switched person's enrolment is on the second page, read while the first is written.
            let switched = enrolled[3]
            let store = env.store
            let planned = Mutex<[(enrolment: String, mode: Mode)]>([])
            let writer = Mutex<Task<Void, any Error>?>(nil)
            _ = try await store.schedule(personID: nil, recordsSince: nil, due: nil, page: 2, now: now, maxHold: .seconds(3_600),
                                         defaultTimezone: { _ in "Europe/London" }) { inputs in
                planned.withLock { $0 += inputs.map { ($0.enrolment.id, $0.enrolment.mode) } }
                if inputs.first?.enrolment.id == enrolled[0].enrolment {
                    // The first page is planned on the connection's thread: a task made for that executor now is in line
                    // for the connection before this step ends, and waits for it as a webhook would.
                    writer.withLock { $0 = Task(executorPreference: store.connectionExecutor) { try await store.setMode(personID: switched.person, mode: .stepUp, now: now) } }
                }
                return inputs.map { (nil, ($0.enrolment.id, $0.enrolment.mode == .stepUp ? 7_000_000 : 9_000_000, $0.attentionVersion)) }
            }
            try await writer.withLock { $0 }?.value
            let seen = planned.withLock { $0 }.filter { $0.enrolment == switched.enrolment }.map(\.mode)
            // Planned ahead from the read before the switch (that plan may finish last: nobody waits for it once thrown
            // away), and again from a read after it.
            #expect(seen.count == 2 && Set(seen) == [.routine, .stepUp], "\(seen)")
            // Planned from the read before the switch, its attention would not be written (its version moved): 0, due.
            let written = try await attention(env)
            #expect(written[switched.person] == 7_000_000)
            #expect(enrolled.filter { $0 != switched }.allSatisfy { written[$0.person] == 9_000_000 })
            // The third page was read after the commit and planned beside the second's writes, once.
            #expect(planned.withLock { $0 }.filter { $0.enrolment == enrolled[4].enrolment }.count == 1)
        }
    }
}
