import Foundation
import ROMService
import ROMTesting
import SQLKit
@testable import Storage
import Testing

/// Migration 13 turns the reviews that prompts were made for into records, for databases from before reviews were records.
@Suite("Review records backfill")
struct ReviewBackfillTests {
    @Test("Every baseline and cadence review that has prompts gets its record back, with the same id and time, and booked ones are untouched")
    func backfill() async throws {
        try await Fixtures.withEnvironment { env in
            let csv = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\n"
            _ = try await PeopleImporter(env: env).importCSV(csv, partial: false)
            // A tick at the start and one in late November: baseline prompts, then the 30 Nov review's prompts.
            for instant in ["2026-11-02T08:00:00Z", "2026-11-26T08:00:00Z"] {
                _ = try await SchedulerRunner(env: env).tick(now: ISO8601DateFormatter().date(from: instant)!)
            }
            let before = try await env.store.reviews(personID: "p1").filter { $0.kind != "booked" }
            #expect(before.map(\.kind).contains("baseline") && before.map(\.kind).contains("cadence"))
            let withPrompts = try await env.store.read { db in
                try await db.raw("SELECT DISTINCT review_id FROM prompts").all().map { try $0.decode(column: "review_id", as: String.self) }
            }
            try await env.store.transaction { db in try await db.raw("DELETE FROM reviews WHERE source <> 'booked'").run() }
            let statement = try #require(migrations.first { $0.version == 13 }?.statements(env.store.engine).first { $0.contains("INSERT INTO reviews") })
            try await env.store.transaction { db in try await db.raw(SQLQueryString(stringLiteral: statement)).run() }
            let after = try await env.store.reviews(personID: "p1")
            #expect(Set(after.map(\.id)) == Set(before.filter { review in withPrompts.contains { review.id.hasSuffix(":" + $0) } }.map(\.id)),
                    "each review with prompts, and only those")
            for review in after {
                let original = try #require(before.first { $0.id == review.id })
                #expect(review.at == original.at && review.kind == original.kind && review.status == "planned")
            }
        }
    }
}
