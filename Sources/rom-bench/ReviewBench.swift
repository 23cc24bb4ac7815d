import Foundation
import Instruments
import Logging
import Prometheus
import ROMService
import Review
import ROMTesting
import Scheduling
import SQLKit
import Storage

/// Writes `weeks` weekly check-ins (PHQ-9, GAD-7, goals) per person straight into the tables the pipeline fills:
/// prompts (answered), an accepted outbox row each, responses and current scores.
func seedHistory(_ store: SQLStore, people: [String], weeks: Int, start: Date, catalog: InstrumentCatalog, realScores: Bool) async throws {
    let instruments = ["phq9", "gad7", "goals"]
    let scorers = try instruments.map { try catalog.scorer($0) }
    var generator = SystemRandomNumberGenerator()
    for chunk in people.chunked(into: max(1, 2_000 / max(weeks, 1))) {
        var prompts: [[any Encodable & Sendable]] = []
        var outbox: [[any Encodable & Sendable]] = []
        var links: [[any Encodable & Sendable]] = []
        var responses: [[any Encodable & Sendable]] = []
        var scores: [[any Encodable & Sendable]] = []
        for person in chunk {
            for week in 0..<weeks {
                let review = start.addingTimeInterval(Double(week) * 7 * 86_400)
                let at = review.addingTimeInterval(-2 * 86_400)
                for (index, instrument) in instruments.enumerated() {
                    let key = "\(person)-\(week)-\(instrument)"
                    let count = instrument == "goals" ? 3 : scorers[index].definition.items.count
                    let answers: [Int?] = (0..<count).map { _ in Int(generator.next(upperBound: instrument == "goals" ? 11 : 4 as UInt64)) }
                    let total = Double(answers.compactMap { $0 }.reduce(0, +))
                    var result = "{}"
                    var band: String? = nil
                    if realScores, let score = try? scorers[index].score(answers) {
                        result = String(decoding: try JSONEncoder().encode(ScoreReport(score)), as: UTF8.self)
                        band = score.band
                    }
                    prompts.append(["pr-\(key)", "en-\(person)", "rv-\(person)-\(week)", person, instrument, week == 0 ? "baseline" : "pre_review",
                                    at.millis, review.millis - 86_400_000, "answered", "k-\(key)", at.millis, review.millis, "accepted"])
                    outbox.append(["ob-\(key)", person, "prompt", "sms", "sandbox-sms", "accepted", 1, at.millis, "k-\(key)", "{}", at.millis, at.millis])
                    links.append(["ob-\(key)", "pr-\(key)"])
                    responses.append(["rs-\(key)", "pr-\(key)", person, instrument, answers.map { $0.map(String.init) ?? "-" }.joined(separator: ","), "form",
                                      at.millis, at.millis])
                    scores.append(["sc-\(key)", "rs-\(key)", person, instrument, "1.0.0", 1, total, band, result, at.millis])
                }
            }
        }
        let (promptRows, outboxRows, linkRows, responseRows, scoreRows) = (prompts, outbox, links, responses, scores)
        try await store.transaction { db in
            for rows in promptRows.chunked(into: 75) {
                try await db.raw("""
                    INSERT INTO prompts (id, enrolment_id, review_id, person_id, instrument, kind, send_at_ms, closes_at_ms, status, idempotency_key, created_at_ms, review_at_ms, delivery)
                    VALUES \(valuesList(rows))
                    """).run()
            }
            for rows in outboxRows.chunked(into: 70) {
                try await db.raw("""
                    INSERT INTO outbox_messages (id, person_id, purpose, channel, gateway, status, attempt, due_at_ms, idempotency_key, payload, created_at_ms, updated_at_ms)
                    VALUES \(valuesList(rows))
                    """).run()
            }
            for rows in linkRows.chunked(into: 400) {
                try await db.raw("INSERT INTO outbox_prompts (message_id, prompt_id) VALUES \(valuesList(rows))").run()
            }
            for rows in responseRows.chunked(into: 120) {
                try await db.raw("""
                    INSERT INTO responses (id, prompt_id, person_id, instrument, answers, source, submitted_at_ms, created_at_ms) VALUES \(valuesList(rows))
                    """).run()
            }
            for rows in scoreRows.chunked(into: 90) {
                try await db.raw("""
                    INSERT INTO scores (id, response_id, person_id, instrument, definition_version, valid, total, band, result, created_at_ms) VALUES \(valuesList(rows))
                    """).run()
            }
        }
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))]
}

/// A review pack for one person with five years of weekly PHQ-9, GAD-7 and goals (780 scored responses): store
/// read, assembly and HTML rendering, repeated; beside the store read alone as the baseline.
func benchReviewPack(iterations: Int) async throws {
    let configuration = try Fixtures.shippedConfiguration()
    let (store, _) = try await Fixtures.migratedStore()
    let start = ISO8601DateFormatter().date(from: "2021-11-01T09:00:00Z")!
    let person = Person(id: "p1", givenName: "Ana", phone: "+447700900001", email: nil, timezone: nil, pathway: "community",
                        startDate: LocalDate.parse("2021-11-01")!, clinician: nil, team: "north")
    try await store.insertPeople([person], now: start)
    try await store.transaction { db in try await db.raw("UPDATE enrolments SET id = 'en-p1' WHERE person_id = 'p1'").run() }
    try await seedHistory(store, people: ["p1"], weeks: 260, start: start, catalog: configuration.instruments, realScores: true)
    let now = start.addingTimeInterval(260 * 7 * 86_400)
    let env = try ServiceEnvironment(configuration: configuration, store: store, now: { now }, metrics: .init(), logger: Logger(label: "bench"))
    let builder = ReviewBuilder(env: env)
    let renderer = try ReviewRenderer(configuration: configuration)
    var readTimes: [Double] = []
    var packTimes: [Double] = []
    var bytes = 0
    for _ in 0..<iterations {
        readTimes.append(try await secondsAsync { _ = try await store.reviewRecords(personID: "p1") } * 1_000)
        packTimes.append(try await secondsAsync {
            let pack = try await builder.pack(personID: "p1", now: now)!
            bytes = renderer.render(pack, as: .html).utf8.count
        } * 1_000)
    }
    readTimes.sort()
    packTimes.sort()
    try await store.close()
    emit(["benchmark": "review_pack_5y_weekly", "responses": 780, "iterations": iterations, "html_bytes": bytes,
          "p50_ms": percentile(packTimes, 50), "p99_ms": percentile(packTimes, 99), "max_ms": packTimes.last!,
          "baseline_store_read_p50_ms": percentile(readTimes, 50), "baseline_store_read_p99_ms": percentile(readTimes, 99),
          "ratio_p50_to_read": percentile(packTimes, 50) / percentile(readTimes, 50)])
}

/// Completeness and outcomes over a million stored responses (and as many prompts and outbox rows) on SQLite,
/// beside a plain COUNT over the same join as the baseline.
func benchReports(responses: Int) async throws {
    let configuration = try Fixtures.shippedConfiguration()
    let (store, folder) = try await Fixtures.migratedStore()
    let weeks = 20
    let people = max(1, responses / (weeks * 3))
    let start = ISO8601DateFormatter().date(from: "2026-01-05T09:00:00Z")!
    let seeding = try await secondsAsync {
        let list = (0..<people).map { String(format: "b%06d", $0) }
        for chunk in list.chunked(into: 10_000) {
            try await store.insertPeople(chunk.enumerated().map { offset, id in
                Person(id: id, givenName: "P", phone: nil, email: "\(id)@example.org", timezone: nil, pathway: "community",
                       startDate: LocalDate.parse("2026-01-05")!, clinician: nil, team: offset % 2 == 0 ? "north" : "south")
            }, now: start)
        }
        try await store.transaction { db in try await db.raw("UPDATE enrolments SET id = 'en-' || person_id").run() }
        try await seedHistory(store, people: list, weeks: weeks, start: start, catalog: configuration.instruments, realScores: false)
        try await store.transaction { db in try await db.raw("ANALYZE").run() }
    }
    let now = start.addingTimeInterval(Double(weeks) * 7 * 86_400)
    let env = try ServiceEnvironment(configuration: configuration, store: store, now: { now }, metrics: .init(), logger: Logger(label: "bench"))
    let runner = ReportRunner(env: env)
    let scope = ReportScope(from: start.addingTimeInterval(-86_400), to: now.addingTimeInterval(86_400), pathway: nil, team: nil)
    var count = 0
    let baseline = try await secondsAsync {
        count = try await store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM scores s JOIN responses r ON r.id = s.response_id WHERE s.superseded_by IS NULL").first()!.decode(column: "n", as: Int.self)
        }
    }
    var figures: [String: Any] = [:]
    for kind in [ReportRunner.Kind.completeness, .outcomes] {
        var rows = 0
        let elapsed = try await secondsAsync { rows = try await runner.run(kind, scope: scope).rows.count }
        figures["\(kind.rawValue)_seconds"] = elapsed
        figures["\(kind.rawValue)_rows"] = rows
        // The same report for one team: the filtered path joins people and enrolments.
        var team = scope
        team.team = "north"
        figures["\(kind.rawValue)_team_seconds"] = try await secondsAsync { _ = try await runner.run(kind, scope: team) }
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: "\(folder)/rom.sqlite")[.size] as? Int) ?? 0
    try await store.close()
    emit(["benchmark": "reports_sqlite", "responses": count, "people": people, "seed_seconds": seeding, "database_mib": size / 1_048_576,
          "baseline_count_join_seconds": baseline].merging(figures) { $1 })
}
