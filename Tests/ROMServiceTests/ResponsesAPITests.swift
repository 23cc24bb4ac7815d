import Foundation
import Intake
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

@Suite("POST /api/v1/responses")
struct ResponsesAPITests {
    func post(_ client: some TestClientProtocol, _ token: String, _ json: String) async throws -> (HTTPResponse.Status, String) {
        let response = try await client.execute(uri: "/api/v1/responses", method: .post,
                                                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: json))
        return (response.status, String(buffer: response.body))
    }

    @Test("Scores strictly, stores raw first, flags the risk item, refuses malformed answers naming the item, and dedupes by id")
    func pipeline() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV(
                "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
            let token = Credentials.newSecret(prefix: "rom_integration")
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(token), role: .integration, team: nil, label: nil, now: env.now())
            try await Application(router: Routes.router(env)).test(.router) { client in
                let (created, body) = try await post(client, token, #"{"id": "ext-1", "person": "p1", "instrument": "phq9", "answers": [3,3,3,3,3,3,2,0,1]}"#)
                #expect(created == .created)
                #expect(body.contains("\"band\":\"severe\"") && body.contains("\"total\":21"))
                let (again, _) = try await post(client, token, #"{"id": "ext-1", "person": "p1", "instrument": "phq9", "answers": [0,0,0,0,0,0,0,0,0]}"#)
                #expect(again == .conflict)
                let (stringAnswer, message) = try await post(client, token, #"{"person": "p1", "instrument": "phq9", "answers": [0,"1",0,0,0,0,0,0,0]}"#)
                #expect(stringAnswer == .unprocessableContent)
                #expect(message.contains("non_integer") && message.contains("item 2"))
                let (boolean, _) = try await post(client, token, #"{"person": "p1", "instrument": "phq9", "answers": [true,0,0,0,0,0,0,0,0]}"#)
                #expect(boolean == .unprocessableContent)
                let (notList, listMessage) = try await post(client, token, #"{"person": "p1", "instrument": "phq9", "answers": "1,2,3"}"#)
                #expect(notList == .unprocessableContent && listMessage.contains("wrong_type"))
                let (unknown, _) = try await post(client, token, #"{"person": "p1", "instrument": "phq8", "answers": [0]}"#)
                #expect(unknown == .unprocessableContent)
                let (nobody, _) = try await post(client, token, #"{"person": "zz", "instrument": "phq9", "answers": [0,0,0,0,0,0,0,0,0]}"#)
                #expect(nobody == .notFound)
            }
            let flags = try await env.store.openFlags(personID: "p1")
            #expect(Set(flags.map(\.kind)) == ["PHQ9_ITEM9_POSITIVE", "severe_band"])
            let counts = try await env.store.read { db in
                try await db.raw("SELECT (SELECT COUNT(*) FROM inbound_replies WHERE source = 'api') AS raw, (SELECT COUNT(*) FROM responses) AS responses").first()
            }
            #expect(try counts?.decode(column: "raw", as: Int.self) == 1)
            #expect(try counts?.decode(column: "responses", as: Int.self) == 1, "refused answers leave no rows")
        }
    }
}
