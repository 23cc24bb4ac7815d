import Foundation
import Intake
import Instruments
import ROMService
import ROMTesting
import Storage
import Testing

@Suite("rom rescore")
struct RescoreTests {
    @Test("Re-scoring with a new definition version keeps the old score, supersedes it and reports the changed band")
    func rescore() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV(
                "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
            let catalog = env.configuration.instruments
            let phq9 = try catalog.scorer("phq9")
            // Stored under version 0.9 with total 10 (moderate).
            let answers = "2,2,2,2,2,0,0,0,0"
            let old = try phq9.score(try AnswerParsing.parseList(answers))
            let (responseID, _) = try await env.store.insertResponse(
                personID: "p1", promptID: nil, answers: answers, context: "", source: "api",
                score: NewScore(instrument: "phq9", definitionVersion: "0.9", valid: true, total: old.total, band: old.band, result: "{}"),
                submittedAt: env.now(), now: env.now())
            // A service moves the moderate band to start at 11 in version 2.0.
            var definition = phq9.definition
            definition.version = "2.0.0"
            definition.bands[2].min = 11
            let changedCatalog = InstrumentCatalog(catalog.definitions.filter { $0.id != "phq9" } + [definition])
            let report = try await Rescoring.run(store: env.store, catalog: changedCatalog, instrument: "phq9", now: env.now())
            #expect(report.examined == 1)
            #expect(report.rescored == 1)
            #expect(report.changed.count == 1)
            #expect(report.changed.first?.fromBand == "moderate")
            #expect(report.changed.first?.toBand == "mild")
            #expect(try await env.store.scoreHistoryCount(responseID: responseID) == 2, "the old score is kept")
            let current = try await env.store.currentScores(instrument: "phq9")
            #expect(current.map(\.definitionVersion) == ["2.0.0"])
            let again = try await Rescoring.run(store: env.store, catalog: changedCatalog, instrument: "phq9", now: env.now())
            #expect(again.rescored == 0, "scores already at the current version are left alone")
        }
    }
}
