import Foundation
import Intake
import ROMService
import ROMTesting
import Storage
import Testing

@Suite("rom responses import (paper forms)")
struct ResponsesImportTests {
    static let people = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\n"

    @Test("Bad rows are reported with row, column and the item; nothing is written; a valid file scores and flags, and a re-import adds nothing")
    func importForms() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV(Self.people, partial: false)
            let bad = """
            id,person,instrument,completed_on,answers
            f1,p1,phq9,2026-11-20,"1,2,0,3,1,0,2,1,1"
            f2,p1,phq9,2026-11-20,1 2 0 3 1 0 2 1 4
            f3,zz,gad7,2026-11-20,"0,0,0,0,0,0,0"
            f4,p1,gad7,20/11/2026,"0,0,0,0,0,0,0"
            """
            let refused = try await ResponsesImporter(env: env).importCSV(bad + "\n", partial: false)
            #expect(refused.imported == 0)
            #expect(refused.problems.map(\.description).contains { $0.hasPrefix("row 2 (line 3), column answers: item 9: 4") })
            #expect(refused.problems.contains { $0.row == 3 && $0.column == "person" })
            #expect(refused.problems.contains { $0.row == 4 && $0.column == "completed_on" })
            #expect(try await env.store.openFlags(personID: "p1").isEmpty, "a refused file writes nothing")

            let good = "id,person,instrument,completed_on,answers\nf1,p1,phq9,2026-11-20,\"1,2,0,3,1,0,2,1,1\"\nf5,p1,gad7,2026-11-20,0 1 - 1 0 1 0\nf6,p1,gad7,2026-11-21,\"3, ,3,3,3,3,3\"\n"
            let imported = try await ResponsesImporter(env: env).importCSV(good, partial: false)
            #expect(imported.imported == 3)
            // f6 leaves item 2 blank: 18 over 6 answered, prorated × 7/6 = 21 (GAD-7, half up), not a shifted 7-item list.
            let gad7 = try await env.store.currentScores(instrument: "gad7")
            #expect(gad7.map(\.answers).sorted() == ["0,1,-,1,0,1,0", "3,-,3,3,3,3,3"])
            #expect(gad7.first { $0.answers == "3,-,3,3,3,3,3" }?.total == 21)
            #expect(imported.problems.isEmpty)
            #expect(try await env.store.openFlags(personID: "p1").contains { $0.kind == "PHQ9_ITEM9_POSITIVE" })
            let again = try await ResponsesImporter(env: env).importCSV(good, partial: false)
            #expect(again.imported == 0)
            #expect(again.alreadyImported == 3)
        }
    }
}
