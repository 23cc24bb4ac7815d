import Delivery
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

/// Contact erasure and the subject access export (UK GDPR arts. 15 and 17, within the records code).
@Suite("Erasure and subject access", .serialized)
struct ErasureTests {
    /// Every text and blob value in every table, lower-cased, with the table and column it came from.
    static func everyStoredValue(_ store: SQLStore) async throws -> [(place: String, value: String)] {
        try await store.read { db in
            let tables = try await db.raw(store.engine == .sqlite
                                          ? "SELECT name AS t FROM sqlite_master WHERE type = 'table'"
                                          : "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema()")
                .all().map { try $0.decode(column: "t", as: String.self) }
            var values: [(String, String)] = []
            for table in tables {
                for row in try await db.raw(SQLQueryString("SELECT * FROM \"\(table)\"")).all() {
                    for column in row.allColumns {
                        if let text = try? row.decode(column: column, as: String?.self) {
                            values.append(("\(table).\(column)", text.lowercased()))
                        } else if let data = try? row.decode(column: column, as: Data?.self) {
                            values.append(("\(table).\(column)", String(decoding: data, as: UTF8.self).lowercased()))
                        }
                    }
                }
            }
            return values
        }
    }

    func count(_ env: ServiceEnvironment, _ table: String) async throws -> Int {
        try await env.store.read { db in try await db.raw(SQLQueryString("SELECT COUNT(*) AS n FROM \(table)")).first()?.decode(column: "n", as: Int.self) ?? -1 }
    }

    @Test("Erasing contact blanks the phone and email in every table (raw replies keep their words), stops every later send, keeps the care record, and is audited; the export holds the whole record with a valid FHIR Bundle")
    func eraseAndExport() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let env = harness.env
        try await harness.seed("p1,Ana,+447700900001,Ana@Example.org,,community,2026-11-02,,north")
        let link = try await harness.sendBaseline()
        // Someone else's details must survive.
        try await harness.seed("p2,Bo,+447700900002,bo@example.org,,community,2026-11-02,,north")
        #expect(try await harness.worker().runOnce().accepted == 1)
        let now = harness.clock.now

        // The baseline answered through the form: PHQ-9 all 1s (total 9, mild), GAD-7 all 1s (7, mild).
        let prompts = try await env.store.openPrompts(personID: "p1", now: now)
        let form = prompts.flatMap { prompt in
            (prompt.instrument == "phq9" ? Array(repeating: 1, count: 9) : prompt.instrument == "gad7" ? Array(repeating: 1, count: 7) : [5, 5]).enumerated()
                .map { "a.\(prompt.id).\($0.offset + 1)=\($0.element)" }
        }.joined(separator: "&") + "&action=send"
        // An SMS from her number asking for help (its auto-reply waits in the outbox) and an email she sent.
        let sms = try #require(try await env.store.receiveSMS(gateway: "sandbox-sms", eventID: "SM1", from: "+447700900001",
                                                              rawBody: Array("MessageSid=SM1&From=%2B447700900001&Body=help".utf8),
                                                              contentType: "application/x-www-form-urlencoded", optIn: nil, now: now))
        try await ReplyPipeline(env: env).processText("help", reply: sms, channel: "sms", gateway: "sandbox-sms", keywordRecorded: false, now: now)
        _ = try #require(try await env.store.receiveEmail(gateway: "sandbox-email", eventID: "E1", personID: "p1",
                                                          rawBody: Array("sender=ana%40example.org&from=Ana <ANA@example.org>&stripped-text=feeling better".utf8),
                                                          contentType: "application/x-www-form-urlencoded", now: now))
        let ops = try await harness.token(.ops)
        let clinician = try await harness.token(.clinician, team: "north")
        try await Application(router: Routes.router(env)).test(.router) { client in
            let sent = try await client.execute(uri: "/c/\(link)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form))
            #expect(sent.status == .ok)

            // The export, before erasure: the whole record.
            let refused = try await client.execute(uri: "/api/v1/people/p1/export", method: .get, headers: [.authorization: "Bearer \(clinician)"])
            #expect(refused.status == .forbidden, "a subject access export is for ops")
            let missing = try await client.execute(uri: "/api/v1/people/nobody/export", method: .get, headers: [.authorization: "Bearer \(ops)"])
            #expect(missing.status == .notFound)
            let exported = try await client.execute(uri: "/api/v1/people/p1/export", method: .get, headers: [.authorization: "Bearer \(ops)"])
            #expect(exported.status == .ok)
            #expect(exported.headers[.contentDisposition]?.contains("rom-export-p1.json") == true)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: exported.body).utf8)) as? [String: Any])
            #expect((document["person"] as? [String: Any])?["id"] as? String == "p1")
            let bundle = try #require(document["fhir"] as? [String: Any])
            #expect(bundle["resourceType"] as? String == "Bundle")
            let resources = ((bundle["entry"] as? [[String: Any]]) ?? []).compactMap { $0["resource"] as? [String: Any] }
            // PHQ-9 total: the sum of nine items of 1 = 9 (instruments.md, PHQ-9 scoring); LOINC 44261-6.
            let phqTotal = resources.first { resource in
                ((resource["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.contains { $0["code"] as? String == "44261-6" } == true
            }.flatMap { ($0["valueQuantity"] as? [String: Any])?["value"] as? Double }
            #expect(phqTotal == 9)
            #expect(resources.filter { $0["resourceType"] as? String == "QuestionnaireResponse" }.count == 3, "PHQ-9, GAD-7 and goals")
            let raw = try #require(document["raw_replies"] as? [[String: Any]])
            #expect(raw.contains { ($0["body"] as? String)?.contains("Body=help") == true }, "the SMS as received")
            #expect(raw.count == 3, "the SMS, the email and the form")
            let messages = try #require(document["messages"] as? [[String: Any]])
            #expect(messages.contains { $0["status"] as? String == "accepted" && $0["purpose"] as? String == "prompt" })
            let audit = try #require(document["audit"] as? [[String: Any]])
            #expect(audit.contains { $0["action"] as? String == "person.export" }, "the export lists itself")

            // Erasure.
            let forbidden = try await client.execute(uri: "/api/v1/people/p1/erase-contact", method: .post, headers: [.authorization: "Bearer \(clinician)"])
            #expect(forbidden.status == .forbidden)
            let before = (responses: try await count(env, "responses"), scores: try await count(env, "scores"), flags: try await count(env, "flags"),
                          prompts: try await count(env, "prompts"), reviews: try await count(env, "reviews"))
            let erased = try await client.execute(uri: "/api/v1/people/p1/erase-contact", method: .post, headers: [.authorization: "Bearer \(ops)"])
            #expect(erased.status == .ok)
            let report = try #require((try JSONSerialization.jsonObject(with: Data(String(buffer: erased.body).utf8)) as? [String: Any])?["erased"] as? [String: Int])
            #expect(report["addresses"] == 2 && report["raw_replies"] == 2 && report["queued_messages"] == 1, "\(report)")
            #expect((report["sandbox_messages"] ?? 0) >= 1)
            let after = (responses: try await count(env, "responses"), scores: try await count(env, "scores"), flags: try await count(env, "flags"),
                         prompts: try await count(env, "prompts"), reviews: try await count(env, "reviews"))
            #expect(after == before, "the care record is kept")

            let person = try await client.execute(uri: "/api/v1/people/p1", method: .get, headers: [.authorization: "Bearer \(ops)"])
            let channels = try #require((try JSONSerialization.jsonObject(with: Data(String(buffer: person.body).utf8)) as? [String: Any])?["channels"] as? [[String: Any]])
            #expect(!channels.isEmpty && channels.allSatisfy { $0["status"] as? String == "erased" && $0["address"] == nil }, "\(channels)")
            let again = try await client.execute(uri: "/api/v1/people/p1/erase-contact", method: .post, headers: [.authorization: "Bearer \(ops)"])
            #expect(again.status == .ok, "erasing twice is harmless")
        }

        // Nowhere in the database: not as written, not form-encoded, not as bare digits, in any case.
        let values = try await Self.everyStoredValue(env.store)
        for needle in ["447700900001", "ana@example.org", "ana%40example.org"] {
            let places = values.filter { $0.value.contains(needle) }.map(\.place)
            #expect(places.isEmpty, "`\(needle)` is still stored in \(places)")
        }
        #expect(values.contains { $0.value.contains("447700900002") }, "another person's number is untouched")
        #expect(values.contains { $0.value.contains("messagesid=sm1&from=[erased]&body=help") }, "the reply keeps its words; only the address goes")
        #expect(values.contains { $0.value.contains("feeling better") })

        // Nothing more goes to her: the queued help reply fails at its claim, and nothing new reaches the sandbox.
        let sandboxBefore = try await count(env, "sandbox_messages")
        harness.clock.advance(by: 60)
        let summary = try await harness.worker().runOnce()
        #expect(summary.failed == 1 && summary.accepted == 0, "\(summary)")
        #expect(try await count(env, "sandbox_messages") == sandboxBefore)
        let erasures = try await env.store.auditEvents(personID: "p1", actions: ["person.erase_contact"])
        #expect(erasures.count == 2 && erasures.first?.detail?.contains("2 addresses") == true)

        // A real FHIR library reads the exported bundle (scripts/test installs fhir.resources in var/pyenv).
        let python = "\(Fixtures.repositoryRoot)/var/pyenv/bin/python"
        if FileManager.default.isExecutableFile(atPath: python) {
            let data = try #require(try await SubjectAccess(env: env).export(personID: "p1", actor: "test"))
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let file = "\(try Fixtures.temporaryDirectory())/bundle.json"
            try JSONSerialization.data(withJSONObject: try #require(document["fhir"])).write(to: URL(fileURLWithPath: file))
            let outcome = try Subprocess.run(python, ["\(Fixtures.repositoryRoot)/Tests/Fixtures/validate_fhir.py", file])
            #expect(outcome.status == 0, "fhir.resources refused the exported bundle: \(outcome.stdout)\(outcome.stderr)")
            #expect(!String(decoding: data, as: UTF8.self).contains("447700900001"), "the export after erasure holds no address")
        } else {
            Issue.record("var/pyenv is missing: run scripts/test, which creates it and installs fhir.resources")
        }
        await harness.close()
    }
}
