// Release-mode measurement harness behind scripts/bench. Prints one JSON object per benchmark.
import Foundation
import Instruments
import Logging
import Prometheus
import Scheduling
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
if which == "import" || which == "all" {
    try await benchImport(rows: Int(arguments.dropFirst().first ?? "") ?? 100_000, sqlite3: sqlite3)
}
