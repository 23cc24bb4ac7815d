import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// The published contract (Resources/openapi.yaml) against the service: every API, provider and health route is in
/// the document with the roles it takes, nothing is documented that is not served, and the behaviours the document
/// promises — problem details, pages, ETag/If-Match, Idempotency-Key — hold. (schemathesis checks every response
/// against the schemas in scripts/test.)
@Suite("OpenAPI contract")
struct OpenAPIContractTests {
    /// The router's routes that the document must describe: everything but the HTML pages.
    static func documented(_ entry: RouteEntry) -> Bool {
        ["/api/v1/", "/inbound/", "/callbacks/"].contains { entry.path.hasPrefix($0) } || ["/healthz", "/readyz"].contains(entry.path)
    }

    @Test("Every API, provider and health route is documented with its method and roles, and every documented operation is served")
    func routesMatchDocument() async throws {
        try await Fixtures.withEnvironment { env in
            let routes = Routes.table(env).entries.filter(Self.documented)
            let operations = APIDocument.operations
            let served = Set(routes.map { "\($0.method.rawValue) \($0.path)" })
            let described = Set(operations.map { "\($0.method) \($0.path)" })
            #expect(served.subtracting(described).isEmpty, "served but not in openapi.yaml: \(served.subtracting(described).sorted())")
            #expect(described.subtracting(served).isEmpty, "in openapi.yaml but not served: \(described.subtracting(served).sorted())")
            #expect(routes.count > 30, "the walk saw the API (\(routes.count) routes)")
            for route in routes {
                guard let operation = operations.first(where: { $0.method == route.method.rawValue && $0.path == route.path }) else { continue }
                let name = "\(operation.method) \(operation.path)"
                switch route.access {
                case .open:
                    #expect(operation.roles == nil, "\(name) is open (or provider-signed) but documented with bearer security")
                case .roles(let roles):
                    #expect(operation.roles == Set(roles.map(\.rawValue)), "\(name): documented roles \(operation.roles ?? []) differ from \(roles.map(\.rawValue).sorted())")
                    for status in ["401", "403", "429", "503"] {
                        #expect(operation.statuses.contains(status), "\(name) does not document \(status)")
                    }
                }
                if route.path.contains(":") && !route.path.hasPrefix("/inbound") && !route.path.hasPrefix("/callbacks") {
                    #expect(operation.statuses.contains("404"), "\(name) takes an id but does not document 404")
                }
            }
            let document = APIDocument.object
            #expect(document["openapi"] as? String == "3.1.0")
            let schemes = (document["components"] as? [String: Any])?["securitySchemes"] as? [String: Any]
            #expect(Set(schemes?.keys.map { $0 } ?? []) == ["bearer", "session", "twilioSignature", "standardWebhooks", "mailgunSignature"])
        }
    }

    @Test("The document is served as JSON without credentials; errors are RFC 9457 problem details with a stable code")
    func servedAndProblems() async throws {
        try await Fixtures.withEnvironment { env in
            try await Application(router: Routes.router(env)).test(.router) { client in
                let document = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
                #expect(document.status == .ok && document.headers[.contentType] == "application/json")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: document.body).utf8)) as? [String: Any])
                #expect(object["openapi"] as? String == "3.1.0" && (object["paths"] as? [String: Any])?["/api/v1/people"] != nil)

                let refused = try await client.execute(uri: "/api/v1/people", method: .get)
                #expect(refused.status == .unauthorized && refused.headers[.contentType] == "application/problem+json")
                let problem = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: refused.body).utf8)) as? [String: Any])
                #expect(problem["type"] as? String == "tag:rom,2026:problems/unauthenticated")
                #expect(problem["status"] as? Int == 401 && problem["code"] as? String == "unauthenticated" && problem["title"] as? String == "Unauthorized")
                #expect((problem["detail"] as? String)?.contains("rom tokens create") == true)
            }
        }
    }

    static func token(_ env: ServiceEnvironment, _ role: Role, team: String? = nil) async throws -> String {
        try await Fixtures.bearerToken(env.store, role: role, team: team, now: env.now())
    }

    static func call(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ token: String, body: String? = nil,
                     headers extra: HTTPFields = [:]) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, json: [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
        headers.append(contentsOf: extra)
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))) as? [String: Any] ?? [:]
        return (response.status, response.headers, json)
    }

    static let header = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\n"

    @Test("Lists page with limit and an opaque cursor: every item once, in order; a bad limit or cursor is a 400 naming the fix")
    func paging() async throws {
        try await Fixtures.withEnvironment { env in
            let ids = (1...7).map { String(format: "p%02d", $0) }
            _ = try await PeopleImporter(env: env).importCSV(Self.header + ids.shuffled().map { "\($0),Ana,+4477009000\($0.dropFirst()),,,community,2026-11-02,,north\n" }.joined(),
                                                              partial: false)
            let ops = try await Self.token(env, .ops)
            try await Application(router: Routes.router(env)).test(.router) { client in
                var seen: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let page = try await Self.call(client, .get, "/api/v1/people?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""), ops)
                    #expect(page.status == .ok)
                    let people = page.json["people"] as? [[String: Any]] ?? []
                    #expect(people.count <= 3)
                    seen += people.compactMap { $0["id"] as? String }
                    cursor = page.json["next_cursor"] as? String
                    pages += 1
                } while cursor != nil && pages < 10
                #expect(seen == ids, "every person once, by id")
                #expect(pages == 3, "7 people in pages of 3, 3 and 1")
                let whole = try await Self.call(client, .get, "/api/v1/people", ops)
                #expect((whole.json["people"] as? [Any])?.count == 7 && whole.json["next_cursor"] is NSNull)

                for bad in ["limit=0", "limit=1001", "limit=two", "cursor=notacursor", "cursor=WyJhIiwiYiJd"] {
                    let refused = try await Self.call(client, .get, "/api/v1/people?\(bad)", ops)
                    #expect(refused.status == .badRequest && ["invalid_limit", "invalid_cursor"].contains(refused.json["code"] as? String ?? ""), "\(bad)")
                }
                let badStatus = try await Self.call(client, .get, "/api/v1/flags?status=closed", ops)
                #expect(badStatus.status == .badRequest && badStatus.json["code"] as? String == "invalid_status")
            }
        }
    }

    @Test("Mode, goals and flags answer with an ETag; a change sent with a stale If-Match is refused with 412 and the current tag, and nothing changes")
    func ifMatch() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV(Self.header + "p1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
            let ops = try await Self.token(env, .ops)
            let integration = try await Self.token(env, .integration)
            try await Application(router: Routes.router(env)).test(.router) { client in
                // Mode: two clinicians read routine; the first steps up, the second's stale switch back is refused.
                let read = try await Self.call(client, .get, "/api/v1/people/p1/mode", ops)
                let tag = try #require(read.headers[.eTag])
                #expect(read.json["mode"] as? String == "routine")
                let first = try await Self.call(client, .put, "/api/v1/people/p1/mode", ops, body: #"{"mode": "step_up"}"#, headers: [.ifMatch: tag])
                #expect(first.status == .ok && first.json["mode"] as? String == "step_up")
                let newTag = try #require(first.headers[.eTag])
                #expect(newTag != tag)
                let stale = try await Self.call(client, .put, "/api/v1/people/p1/mode", ops, body: #"{"mode": "routine"}"#, headers: [.ifMatch: tag])
                #expect(stale.status == .preconditionFailed && stale.headers[.eTag] == newTag && stale.json["code"] as? String == "precondition_failed")
                #expect(try await env.store.modeState(personID: "p1")?.mode == "step_up", "the stale switch changed nothing")
                let unconditional = try await Self.call(client, .put, "/api/v1/people/p1/mode", ops, body: #"{"mode": "routine"}"#)
                #expect(unconditional.status == .ok, "without If-Match the change applies to whatever is current")

                // Goals.
                let goals = try await Self.call(client, .get, "/api/v1/people/p1/goals", ops)
                #expect((goals.json["goals"] as? [String]) == [])
                let goalsTag = try #require(goals.headers[.eTag])
                let set = try await Self.call(client, .put, "/api/v1/people/p1/goals", ops, body: #"{"goals": ["Walk the dog"]}"#, headers: [.ifMatch: goalsTag])
                #expect(set.status == .ok)
                let overwrite = try await Self.call(client, .put, "/api/v1/people/p1/goals", ops, body: #"{"goals": ["Sleep better"]}"#, headers: [.ifMatch: goalsTag])
                #expect(overwrite.status == .preconditionFailed)
                #expect(try await env.store.goals(personID: "p1") == ["Walk the dog"])

                // A flag: acknowledged by one clinician, then another's action decided on the open flag is refused.
                _ = try await Self.call(client, .post, "/api/v1/responses", integration, body: #"{"person": "p1", "instrument": "phq9", "answers": [0,0,0,0,0,0,0,0,2]}"#)
                let flagID = try #require(try await env.store.flags(team: nil, openOnly: true).first?.id)
                let flag = try await Self.call(client, .get, "/api/v1/flags/\(flagID)", ops)
                let flagTag = try #require(flag.headers[.eTag])
                let acknowledged = try await Self.call(client, .post, "/api/v1/flags/\(flagID)/acknowledge", ops, headers: [.ifMatch: flagTag])
                #expect(acknowledged.status == .ok && acknowledged.json["status"] as? String == "acknowledged")
                let late = try await Self.call(client, .post, "/api/v1/flags/\(flagID)/action", ops, body: #"{"note": "Rang her"}"#, headers: [.ifMatch: flagTag])
                #expect(late.status == .preconditionFailed && late.headers[.eTag] == acknowledged.headers[.eTag])
                #expect(try await env.store.flag(id: flagID)?.status == "acknowledged")
                let actioned = try await Self.call(client, .post, "/api/v1/flags/\(flagID)/action", ops, body: #"{"note": "Rang her"}"#,
                                                   headers: [.ifMatch: try #require(acknowledged.headers[.eTag])])
                #expect(actioned.status == .ok && actioned.json["status"] as? String == "actioned")
            }
        }
    }

    @Test("Idempotency-Key: a retry gets the first answer and does nothing twice, even sent at the same time; another body under the key is a 422; keys are per credential")
    func idempotency() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV(Self.header + "p1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
            let integration = try await Self.token(env, .integration)
            let other = try await Self.token(env, .integration)
            try await Application(router: Routes.router(env)).test(.router) { client in
                let person = #"{"id": "p2", "given_name": "Ben", "phone": "+447700900002", "pathway": "community", "start_date": "2026-11-02", "team": "north"}"#
                let created = try await Self.call(client, .post, "/api/v1/people", integration, body: person, headers: [Self.key: "create-p2"])
                #expect(created.status == .created && created.headers[Self.replayed] == nil)
                let retried = try await Self.call(client, .post, "/api/v1/people", integration, body: person, headers: [Self.key: "create-p2"])
                #expect(retried.status == .created && retried.headers[Self.replayed] == "true" && retried.json["id"] as? String == "p2",
                        "the retry gets the first 201, not a 409 duplicate")
                let misuse = try await Self.call(client, .post, "/api/v1/people", integration, body: person.replacingOccurrences(of: "Ben", with: "Bea"),
                                                 headers: [Self.key: "create-p2"])
                #expect(misuse.status == .unprocessableContent && misuse.json["code"] as? String == "idempotency_key_reused")
                let otherCredential = try await Self.call(client, .post, "/api/v1/people", other, body: person, headers: [Self.key: "create-p2"])
                #expect(otherCredential.status == .conflict && otherCredential.json["code"] as? String == "duplicate",
                        "another client's key is its own: its request runs (and meets the duplicate id)")
                let badKey = try await Self.call(client, .post, "/api/v1/people", integration, body: person, headers: [Self.key: "has space"])
                #expect(badKey.status == .badRequest && badKey.json["code"] as? String == "invalid_idempotency_key")

                // Refusals are answers too: the same bad request under its key gets the same 422.
                let wrong = #"{"person": "p1", "instrument": "phq9", "answers": [0,0,0,0,9,0,0,0,0]}"#
                let refused = try await Self.call(client, .post, "/api/v1/responses", integration, body: wrong, headers: [Self.key: "r-bad"])
                #expect(refused.status == .unprocessableContent && refused.json["item"] as? Int == 5 && refused.json["code"] as? String == "out_of_range")
                let refusedAgain = try await Self.call(client, .post, "/api/v1/responses", integration, body: wrong, headers: [Self.key: "r-bad"])
                #expect(refusedAgain.status == .unprocessableContent && refusedAgain.headers[Self.replayed] == "true")

                // Eight copies of one answer at once (a client's retries racing its first try): stored and scored once.
                let answer = #"{"person": "p1", "instrument": "phq9", "answers": [1,1,1,1,1,1,1,1,1]}"#
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<8 {
                        group.addTask { try await Self.call(client, .post, "/api/v1/responses", integration, body: answer, headers: [Self.key: "r-once"]).status }
                    }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                #expect(statuses.allSatisfy { $0 == .created || $0 == .conflict }, "\(statuses)")
                #expect(statuses.contains(.created))
                let again = try await Self.call(client, .post, "/api/v1/responses", integration, body: answer, headers: [Self.key: "r-once"])
                #expect(again.status == .created && again.headers[Self.replayed] == "true" && again.json["total"] as? Int == 9)
            }
            let rows = try await env.store.read { db in
                try await db.raw("SELECT COUNT(*) AS n FROM responses r JOIN scores s ON s.response_id = r.id WHERE s.instrument = 'phq9'").first()?.decode(column: "n", as: Int.self)
            }
            #expect(rows == 1, "one response for eight racing copies and a retry; none for the refused one")
            #expect(try await env.store.countPeople() == 2)
        }
    }

    static let key = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!
}
