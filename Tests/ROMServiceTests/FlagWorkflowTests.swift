import Foundation
import Intake
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import Storage
import Testing

@Suite("Flags: list, acknowledge, action")
struct FlagWorkflowTests {
    @Test("Clinicians see their team's flags, urgent first; statuses move forward only with who, when and a note")
    func workflow() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV("""
                id,given_name,phone,email,timezone,pathway,start_date,clinician,team
                n1,Ana,+447700900001,,,community,2026-11-02,,north
                s1,Ben,+447700900002,,,community,2026-11-02,,south
                """ + "\n", partial: false)
            var secrets: [String: String] = [:]
            for (name, role, team) in [("integration", Role.integration, nil), ("north", .clinician, "north"), ("south", .clinician, "south")] as [(String, Role, String?)] {
                let secret = Credentials.newSecret(prefix: "rom_\(name)")
                try await env.store.insertToken(id: newID(), hash: Credentials.hash(secret), role: role, team: team, label: nil, now: env.now())
                secrets[name] = secret
            }
            let tokens = secrets
            @Sendable func headers(_ who: String) -> HTTPFields { [.authorization: "Bearer \(tokens[who]!)", .contentType: "application/json"] }
            try await Application(router: Routes.router(env)).test(.router) { client in
                // n1: PHQ-9 total 21 with item 9 = 1 → PHQ9_ITEM9_POSITIVE (urgent) and severe_band (high); s1: item 9 = 2.
                _ = try await client.execute(uri: "/api/v1/responses", method: .post, headers: headers("integration"),
                                             body: ByteBuffer(string: #"{"person": "n1", "instrument": "phq9", "answers": [3,3,3,3,3,3,2,0,1]}"#))
                _ = try await client.execute(uri: "/api/v1/responses", method: .post, headers: headers("integration"),
                                             body: ByteBuffer(string: #"{"person": "s1", "instrument": "phq9", "answers": [0,0,0,0,0,0,0,0,2]}"#))
                let list = try await client.execute(uri: "/api/v1/flags", method: .get, headers: headers("north"))
                let flags = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: list.body).utf8)) as? [String: Any])["flags"] as? [[String: Any]]
                #expect(flags?.map { $0["kind"] as? String } == ["PHQ9_ITEM9_POSITIVE", "severe_band"], "urgent first, north only")
                let urgent = try #require(flags?.first?["id"] as? String)
                let other = try await client.execute(uri: "/api/v1/flags/\(urgent)/acknowledge", method: .post, headers: headers("south"))
                #expect(other.status == .notFound, "another team cannot act on it")
                let acknowledged = try await client.execute(uri: "/api/v1/flags/\(urgent)/acknowledge", method: .post, headers: headers("north"))
                #expect(acknowledged.status == .ok)
                let noNote = try await client.execute(uri: "/api/v1/flags/\(urgent)/action", method: .post, headers: headers("north"))
                #expect(noNote.status == .unprocessableContent)
                let actioned = try await client.execute(uri: "/api/v1/flags/\(urgent)/action", method: .post, headers: headers("north"),
                                                        body: ByteBuffer(string: #"{"note": "Called Ana; safety plan reviewed with the duty worker."}"#))
                #expect(actioned.status == .ok)
                #expect(String(buffer: actioned.body).contains("safety plan"))
                let backwards = try await client.execute(uri: "/api/v1/flags/\(urgent)/acknowledge", method: .post, headers: headers("north"))
                #expect(backwards.status == .conflict)
            }
            let stored = try #require(try await env.store.flags(team: "north", openOnly: false).first { $0.kind == "PHQ9_ITEM9_POSITIVE" })
            #expect(stored.status == "actioned")
            #expect(stored.acknowledgedAt != nil && stored.actionedAt != nil && stored.actionedBy != nil)
            #expect(try await env.store.flags(team: "north", openOnly: true).map(\.kind) == ["severe_band"])
            #expect(try await env.store.auditEvents().contains { $0.action == "flag.actioned" && $0.personID == "n1" })
        }
    }
}
