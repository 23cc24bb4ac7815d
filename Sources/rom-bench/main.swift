// Release-mode measurement harness behind scripts/bench. Prints one JSON object per benchmark.
import Foundation
import Instruments
import Logging
import Prometheus
import SQLKit
import Scheduling
import Delivery
import ROMService
import ROMTesting
import Storage

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func secondsAsync(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Scores `count` random PHQ-9 forms (5 % with one item missing) on one core, beside a baseline
/// that only sums the same answers, so the ratio shows the cost of checking, proration, banding and explanation.
func benchScoring(count: Int) throws {
    let scorer = try Fixtures.catalog().scorer("phq9")
    var generator = SystemRandomNumberGenerator()
    let forms: [[Int?]] = (0..<count).map { _ in
        var form: [Int?] = (0..<9).map { _ in Int(generator.next(upperBound: 4 as UInt64)) }
        if generator.next(upperBound: 20 as UInt64) == 0 { form[Int(generator.next(upperBound: 9 as UInt64))] = nil }
        return form
    }
    var checksum = 0.0
    let baseline = seconds {
        for form in forms {
            var sum = 0
            for answer in form { sum += answer ?? 0 }
            checksum += Double(sum)
        }
    }
    var scoredChecksum = 0.0
    var flags = 0
    let elapsed = try seconds {
        for form in forms {
            let score = try scorer.score(form)
            scoredChecksum += score.total ?? 0
            flags += score.riskFlags.count
        }
    }
    emit(["benchmark": "score_phq9", "forms": count, "seconds": elapsed, "scores_per_second": Double(count) / elapsed,
          "baseline_sum_seconds": baseline, "ratio_to_plain_sum": elapsed / max(baseline, 1e-9),
          "checksum": scoredChecksum + checksum * 0, "risk_flags": flags])
}

/// Imports a generated CSV of `rows` people into a fresh SQLite file through the same code as `rom people import`,
/// beside the sqlite3 shell importing the same file into a plain table in one transaction.
func benchImport(rows: Int, sqlite3: String?) async throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var csv = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n"
    csv.reserveCapacity(rows * 90)
    for index in 0..<rows {
        let phone = String(format: "+4477009%05d", index % 100_000)
        csv += "p\(index),Name\(index % 997),\(phone),person\(index)@example.org,Europe/London,\(index % 2 == 0 ? "community" : "core"),2026-11-02,dr-\(index % 50),team-\(index % 20)\n"
    }
    let path = "\(folder)/people.csv"
    try csv.write(toFile: path, atomically: true, encoding: .utf8)
    let configuration = try Fixtures.shippedConfiguration()
    let store = try await SQLStore.open(url: "sqlite:\(folder)/rom.sqlite", logger: Logger(label: "bench"))
    try await store.migrate(now: Date())
    let env = try ServiceEnvironment(configuration: configuration, store: store, now: { Date() }, metrics: PrometheusCollectorRegistry(), logger: Logger(label: "bench"))
    var imported = 0
    let elapsed = try await secondsAsync {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let outcome = try await PeopleImporter(env: env).importCSV(text, partial: false)
        precondition(outcome.problems.isEmpty, "generated CSV has problems: \(outcome.problems.prefix(3))")
        imported = outcome.imported
    }
    let count = try await store.countPeople()
    try await store.close()
    var fields: [String: Any] = ["benchmark": "people_import_csv", "rows": rows, "imported": imported, "stored": count, "seconds": elapsed,
                                 "rows_per_second": Double(rows) / elapsed]
    if let sqlite3 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sqlite3)
        process.standardOutput = FileHandle.nullDevice
        process.arguments = ["\(folder)/baseline.sqlite", "PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
                             "CREATE TABLE people (id TEXT PRIMARY KEY, given_name, phone, email, timezone, pathway, start_date, clinician, team);",
                             ".import --csv --skip 1 \(path) people"]
        let baseline = try seconds {
            try process.run()
            process.waitUntilExit()
        }
        fields["sqlite3_shell_seconds"] = baseline
        fields["ratio_to_sqlite3_shell"] = elapsed / baseline
    }
    emit(fields)
}

/// Plans `count` enrolments × 3 measures over a 30-day horizon with the pure planner, streaming: each
/// enrolment is built, planned and its actions counted, as the scheduler tick does per batch.
/// `threads` splits the enrolments across that many tasks.
func benchPlanning(count: Int, threads: Int) async throws {
    let configuration = try Fixtures.shippedConfiguration()
    guard let pathway = configuration.pathways["community"], let zone = ZoneRules(identifier: "Europe/London") else { return }
    let planner = Planner(pathway: pathway, zone: zone)
    let now = Int64(Fixtures.fixedNow.timeIntervalSince1970)
    let horizon = now + 30 * 86_400
    let today = zone.localDay(now)
    let start = DispatchTime.now().uptimeNanoseconds
    let chunk = (count + threads - 1) / threads
    let totals = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
        for thread in 0..<threads {
            group.addTask {
                var created = 0
                var actions = 0
                let lower = thread * chunk
                let upper = min(count, lower + chunk)
                guard lower < upper else { return (0, 0) }
                for index in lower..<upper {
                    // Starts spread over the last two years; one in five in a step-up since a day ago.
                    let startDay = today - (index % 730)
                    let stepUp = index % 5 == 0
                    let enrolment = Enrolment(id: "e\(index)", personID: "p\(index)", pathwayID: "community",
                                              startDate: LocalDate(dayNumber: startDay), timezone: "Europe/London",
                                              mode: stepUp ? .stepUp : .routine, modeChangedAt: stepUp ? now - 86_400 : nil)
                    let plan = planner.plan(enrolment, history: SchedulingHistory(), now: now, horizon: horizon)
                    actions += plan.count
                    for action in plan { if case .createPrompt = action { created += 1 } }
                }
                return (created, actions)
            }
        }
        var sum = (0, 0)
        for try await part in group { sum = (sum.0 + part.0, sum.1 + part.1) }
        return sum
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    emit(["benchmark": "plan_enrolments", "enrolments": count, "threads": threads, "prompts_created": totals.0, "actions": totals.1,
          "seconds": elapsed, "enrolments_per_second": Double(count) / elapsed, "peak_rss_mib": Double(usage.ru_maxrss) / 1024])
}

/// End-to-end dispatch (claim → render → send → record) of `count` check-in messages, each grouping one person's
/// baseline prompts, through a webhook gateway to `target` (a URL) or an SMTP gateway to 127.0.0.1:`target` (no TLS).
func benchDispatch(kind: String, target: String, count: Int) async throws {
    let config = try Fixtures.copyOfConfig()
    let email = kind == "smtp"
    let gateways = """
    gateways:
      sandbox-sms: { kind: sandbox, channel: sms }
      sandbox-email: { kind: sandbox, channel: email }
      bench-sms:
        kind: webhook
        channel: sms
        url: \(email ? "http://127.0.0.1:9/unused" : target)
        body: '{"to": "{{to}}", "text": "{{text}}", "reference": "{{idempotency_key}}"}'
      bench-email:
        kind: smtp
        channel: email
        host: 127.0.0.1
        port: \(email ? target : "25")
        tls: none
        from: "Check-in <checkin@example.org>"

    """
    try gateways.write(toFile: "\(config)/gateways.yaml", atomically: true, encoding: .utf8)
    var pathways = try String(contentsOfFile: "\(config)/pathways.yaml", encoding: .utf8)
    pathways = pathways.replacingOccurrences(of: "gateways: { sms: sandbox-sms, email: sandbox-email }", with: "gateways: { sms: bench-sms, email: bench-email }")
    try pathways.write(toFile: "\(config)/pathways.yaml", atomically: true, encoding: .utf8)
    try (try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8))
        .replacingOccurrences(of: "link_secret: { file: var/link-secret }", with: "link_secret: { file: \(config)/link-secret }")
        .write(toFile: "\(config)/rom.yaml", atomically: true, encoding: .utf8)
    let configuration = try Configuration.load(directory: config, environment: [:])
    let folder = try Fixtures.temporaryDirectory()
    // A SQLite file, or a fresh database on the server named by ROM_TEST_POSTGRES (scripts/bench's PostgreSQL run).
    let store = try await SQLStore.open(url: try await Fixtures.freshDatabaseURL(folder: folder), logger: Logger(label: "bench"))
    let seedAt = ISO8601DateFormatter().date(from: "2026-11-02T08:00:00Z")!
    let sendAt = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!
    try await store.migrate(now: seedAt)
    let clock = ManualClock(seedAt)
    var quiet = Logger(label: "bench")
    quiet.logLevel = .warning
    let env = try ServiceEnvironment(configuration: configuration, store: store, now: { clock.now }, metrics: PrometheusCollectorRegistry(),
                                     logger: quiet, environment: [:])
    var csv = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n"
    for index in 0..<count {
        csv += email ? "p\(index),Ana,,p\(index)@example.org,,core,2026-11-02,,north\n"
                     : "p\(index),Ana,+4477009\(String(format: "%05d", index)),,,community,2026-11-02,,north\n"
    }
    _ = try await PeopleImporter(env: env).importCSV(csv, partial: false)
    _ = try await SchedulerRunner(env: env).tick(now: seedAt)
    clock.set(sendAt)
    // For profiling only the timed part: `ROM_BENCH_PAUSE=1` says when it starts and waits two seconds, so a profiler
    // can attach (`perf record -p PID`).
    if ProcessInfo.processInfo.environment["ROM_BENCH_PAUSE"] != nil {
        FileHandle.standardError.write(Data("pid \(getpid()) ready\n".utf8))
        try await Task.sleep(for: .seconds(2))
    }
    var accepted = 0
    var claimed = 0
    let commitsBefore = store.committedTransactions
    let elapsed = try await secondsAsync {
        let total = try await BackgroundServices.drain(env)
        accepted = total.accepted
        claimed = total.claimed
    }
    let connects = env.curl?.connectionsOpened ?? 0
    // SQLite commits (each an fsync) per 1,000 messages sent: the dispatcher's bookkeeping cost on this disk.
    let commits = Double(store.committedTransactions - commitsBefore) * 1000 / Double(max(accepted, 1))
    env.curl?.shutdown()
    try await store.close()
    emit(["benchmark": "dispatch_\(kind)", "client": "rom", "engine": store.engine.rawValue, "count": count, "claimed": claimed, "accepted": accepted, "seconds": elapsed,
          "per_second": Double(accepted) / elapsed, "connects": connects]
         .merging(store.engine == .sqlite ? ["commits_per_1000": commits] : [:]) { a, _ in a })
}

/// The stored scheduler tick against `rom people import` of the same rows, in the same process (issue 16's ratios):
/// `rows` people on the community pathway with start dates spread over the two years before `now`. Times the first
/// tick (everyone planned, as at a process's start), a steady tick a minute later and the next day's tick (both
/// incremental), with what each did; between ticks the prompts whose send time has come are marked sent, as the
/// dispatcher would. On the PostgreSQL server named by ROM_TEST_POSTGRES when set.
func benchTick(rows: Int) async throws {
    let folder = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let now = ISO8601DateFormatter().date(from: "2026-12-07T10:00:00Z")!
    var csv = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n"
    csv.reserveCapacity(rows * 80)
    let today = LocalDate.parse("2026-12-07")!.dayNumber
    for index in 0..<rows {
        let start = LocalDate(dayNumber: today - index % 730)
        csv += "p\(index),Name\(index % 997),+4477\(String(format: "%08d", index)),,,community,\(start),dr-\(index % 50),team-\(index % 20)\n"
    }
    let store = try await SQLStore.open(url: try await Fixtures.freshDatabaseURL(folder: folder), logger: Logger(label: "bench"))
    try await store.migrate(now: now)
    let clock = ManualClock(now)
    var quiet = Logger(label: "bench")
    quiet.logLevel = .warning
    let env = try ServiceEnvironment(configuration: try Fixtures.shippedConfiguration(), store: store, now: { clock.now },
                                     metrics: PrometheusCollectorRegistry(), logger: quiet)
    let importSeconds = try await secondsAsync {
        let outcome = try await PeopleImporter(env: env).importCSV(csv, partial: false)
        precondition(outcome.problems.isEmpty, "generated CSV has problems: \(outcome.problems.prefix(3))")
    }
    let runner = SchedulerRunner(env: env)
    func sendDue(by date: Date) async throws {
        try await store.transaction { db in
            try await db.raw("UPDATE prompts SET status = 'sent' WHERE status = 'scheduled' AND send_at_ms <= \(bind: Int64(date.timeIntervalSince1970 * 1000))").run()
        }
    }
    var fields: [String: Any] = ["benchmark": "scheduler_tick", "engine": store.engine.rawValue, "people": rows, "import_seconds": importSeconds]
    for (name, at, full) in [("first", now, true), ("steady", now.addingTimeInterval(60), false), ("next_day", now.addingTimeInterval(86_400), false)] {
        try await sendDue(by: at)
        clock.set(at)
        // `ROM_BENCH_PAUSE=next_day` (or first, steady): a pause before that tick, for `perf record -p PID`.
        if ProcessInfo.processInfo.environment["ROM_BENCH_PAUSE"] == name {
            FileHandle.standardError.write(Data("pid \(getpid()) ready for the \(name) tick\n".utf8))
            try await Task.sleep(for: .seconds(2))
        }
        var applied = AppliedPlan()
        let commitsBefore = store.committedTransactions
        let elapsed = try await secondsAsync { applied = try await runner.tick(now: at, full: full) }
        fields["\(name)_seconds"] = elapsed
        // SQLite commits (each an fsync) the tick made.
        if store.engine == .sqlite { fields["\(name)_commits"] = store.committedTransactions - commitsBefore }
        fields["\(name)_ratio_to_import"] = elapsed / importSeconds
        fields["\(name)_created"] = applied.created
        fields["\(name)_reminded"] = applied.reminded
        fields["\(name)_expired"] = applied.expired
        fields["\(name)_missed"] = applied.missed
    }
    // `ROM_BENCH_DAYS=N`: then N more daily ticks (at the same time of day), each after the prompts due by then were
    // marked sent — a store whose prompts were made a day at a time, as a running service makes them, growing day by
    // day; each day's time as a ratio to the import (nobody answers, so the later days also raise non-response flags).
    if let days = Int(ProcessInfo.processInfo.environment["ROM_BENCH_DAYS"] ?? ""), days > 0 {
        var ratios: [Double] = []
        for day in 2...(days + 1) {
            let at = now.addingTimeInterval(Double(day) * 86_400)
            try await sendDue(by: at)
            clock.set(at)
            let elapsed = try await secondsAsync { _ = try await runner.tick(now: at) }
            ratios.append((elapsed / importSeconds * 1000).rounded() / 1000)
        }
        fields["daily_ratios_to_import"] = ratios
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    fields["peak_rss_mib"] = Double(usage.ru_maxrss) / 1024
    try await store.close()
    emit(fields)
}

let arguments = CommandLine.arguments.dropFirst()
let which = arguments.first ?? "all"
let sqlite3 = ["/usr/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }
if which == "score" || which == "all" {
    try benchScoring(count: Int(arguments.dropFirst().first ?? "") ?? 1_000_000)
}
if which == "plan" || which == "all" {
    let threads = Int(arguments.dropFirst(2).first ?? "") ?? 2
    try await benchPlanning(count: Int(arguments.dropFirst().first ?? "") ?? 1_000_000, threads: threads)
}
if which == "dispatch-http" || which == "dispatch-smtp" {
    let rest = Array(arguments.dropFirst())
    try await benchDispatch(kind: which == "dispatch-http" ? "http" : "smtp", target: rest.first ?? "", count: Int(rest.dropFirst().first ?? "") ?? 2_000)
}
if which == "import" || which == "all" {
    try await benchImport(rows: Int(arguments.dropFirst().first ?? "") ?? 100_000, sqlite3: sqlite3)
}
if which == "tick" {
    try await benchTick(rows: Int(arguments.dropFirst().first ?? "") ?? 100_000)
}
if which == "review" {
    try await benchReviewPack(iterations: Int(arguments.dropFirst().first ?? "") ?? 300)
}
if which == "reports" {
    try await benchReports(responses: Int(arguments.dropFirst().first ?? "") ?? 1_000_000)
}
