import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Intake
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// `POST /api/v1/fhir/QuestionnaireResponse` with resources built by fhir.resources (Tests/Fixtures/questionnaire_response.py),
/// as an EHR would send them. Expected scores are the published sums (references/instruments.md): PHQ-9 total = sum of
/// the nine items, bands 0–4 / 5–9 / 10–14 / 15–19 / 20–27; GAD-7 total = sum of seven, bands 0–4 / 5–9 / 10–14 / 15–21.
@Suite("FHIR QuestionnaireResponse intake")
struct FHIRIntakeTests {
    static func resources(person: String) throws -> [String: Data] {
        let python = "\(Fixtures.repositoryRoot)/var/pyenv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("var/pyenv is missing: run scripts/test, which creates it and installs fhir.resources")
            return [:]
        }
        let outcome = try Subprocess.run(python, ["\(Fixtures.repositoryRoot)/Tests/Fixtures/questionnaire_response.py", person])
        #expect(outcome.status == 0, "fhir.resources refused a resource: \(outcome.stderr)")
        let all = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any] ?? [:]
        return try all.mapValues { try JSONSerialization.data(withJSONObject: $0) }
    }

    /// p1 enrolled, an integration token, and the resources for p1.
    static func enrol(_ env: ServiceEnvironment) async throws -> (String, [String: Data]) {
        _ = try await PeopleImporter(env: env).importCSV(
            "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
        return (try await Fixtures.bearerToken(env.store, role: .integration, now: env.now()), try resources(person: "p1"))
    }

    func post(_ client: some TestClientProtocol, _ token: String, _ resource: Data?) async throws -> (HTTPResponse.Status, HTTPFields, [String: Any]) {
        let body = try #require(resource)
        let response = try await client.execute(uri: "/api/v1/fhir/QuestionnaireResponse", method: .post,
                                                headers: [.authorization: "Bearer \(token)", .contentType: "application/fhir+json"],
                                                body: ByteBuffer(bytes: body))
        return (response.status, response.headers, (try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))) as? [String: Any] ?? [:])
    }

    /// The one issue of an OperationOutcome: its code and FHIRPath.
    func issue(_ json: [String: Any]) -> (code: String?, expression: String?, diagnostics: String?) {
        let issue = (json["issue"] as? [[String: Any]])?.first
        return (issue?["code"] as? String, (issue?["expression"] as? [String])?.first, issue?["diagnostics"] as? String)
    }

    @Test("Completed responses named by LOINC panel or canonical URL, with integer or LOINC-coded answers, are stored raw, scored and flagged like every channel; a resend is a 409")
    func accepted() async throws {
        try await Fixtures.withEnvironment { env in
            let (token, resources) = try await Self.enrol(env)
            try await Application(router: Routes.router(env)).test(.router) { client in
                // 2+1+3+0+1+2+0+1+0 = 10: moderate.
                let (integers, _, first) = try await post(client, token, resources["phq9_loinc_integers"])
                #expect(integers == .created && first["total"] as? Int == 10 && first["band"] as? String == "moderate", "\(first)")
                // 3·6 + 2 + 0 + 1 = 21: severe, item 9 answered 1 → the urgent risk flag.
                let (coded, _, second) = try await post(client, token, resources["phq9_canonical_coded"])
                #expect(coded == .created && second["total"] as? Int == 21 && second["band"] as? String == "severe", "\(second)")
                // Seven answers of 1 inside a group: 7, mild.
                let (grouped, _, third) = try await post(client, token, resources["gad7_grouped"])
                #expect(grouped == .created && third["instrument"] as? String == "gad7" && third["total"] as? Int == 7 && third["band"] as? String == "mild", "\(third)")
                let (resent, headers, outcome) = try await post(client, token, resources["phq9_loinc_integers"])
                #expect(resent == .conflict && headers[.contentType] == "application/fhir+json" && issue(outcome).code == "duplicate")
            }
            let flags = try await env.store.openFlags(personID: "p1")
            #expect(flags.contains { $0.kind == "PHQ9_ITEM9_POSITIVE" && $0.severity == "urgent" })
            let raw = try await env.store.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM inbound_replies WHERE source = 'api' AND content_type = 'application/fhir+json'").first()?.decode(column: "n", as: Int.self)
            }
            #expect(raw == 3, "each resource is kept raw as it came")
        }
    }

    @Test("Resources that cannot be scored as they stand get an OperationOutcome naming the problem and its element; nothing is stored")
    func refused() async throws {
        try await Fixtures.withEnvironment { env in
            let (token, resources) = try await Self.enrol(env)
            try await Application(router: Routes.router(env)).test(.router) { client in
                let cases: [(String, HTTPResponse.Status, String, String)] = [
                    ("in_progress", .unprocessableContent, "business-rule", "QuestionnaireResponse.status"),
                    ("unknown_questionnaire", .unprocessableContent, "not-supported", "QuestionnaireResponse.questionnaire"),
                    // LOINC item codes are refused rather than guessed at: a misplaced answer is a wrong score.
                    ("loinc_item_codes", .unprocessableContent, "value", "QuestionnaireResponse.item[0].linkId"),
                    ("out_of_range", .unprocessableContent, "invalid", "QuestionnaireResponse.item.where(linkId = '5')"),
                    ("unknown_person", .notFound, "not-found", "QuestionnaireResponse.subject"),
                    ("text_answer", .unprocessableContent, "value", "QuestionnaireResponse.item[0].answer[0]"),
                ]
                for (name, status, code, expression) in cases {
                    let (answered, headers, outcome) = try await post(client, token, resources[name])
                    #expect(answered == status && headers[.contentType] == "application/fhir+json", "\(name): \(answered)")
                    #expect(outcome["resourceType"] as? String == "OperationOutcome", "\(name)")
                    #expect(issue(outcome).code == code && issue(outcome).expression == expression, "\(name): \(issue(outcome))")
                }
                let (notJSON, _, outcome) = try await post(client, token, Data(#"{"resourceType": "Patient"}"#.utf8))
                #expect(notJSON == .badRequest && issue(outcome).code == "structure")
            }
            let stored = try await env.store.read { db in
                try await db.raw("SELECT (SELECT COUNT(*) FROM responses) + (SELECT COUNT(*) FROM inbound_replies WHERE source = 'api') AS n").first()?.decode(column: "n", as: Int.self)
            }
            #expect(stored == 0)
        }
    }
}
