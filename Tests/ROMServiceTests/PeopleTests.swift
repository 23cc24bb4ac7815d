import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Intake
import ROMService
import ROMTesting
import Scheduling
import Storage
import Testing

@Suite("People: CSV import and the API")
struct PeopleTests {
    static let header = "id,given_name,phone,email,timezone,pathway,start_date,clinician,team"

    @Test("A valid CSV is imported whole, with contact points and a routine enrolment")
    func importValid() async throws {
        try await Fixtures.withEnvironment { env in
            let csv = """
            \(Self.header)
            p1,Ana,+447700900001,,Europe/London,community,2026-11-02,dr-a,north
            p2,"Ben, Jr",,ben@example.org,,core,2026-11-03,,south
            """
            let outcome = try await PeopleImporter(env: env).importCSV(csv, partial: false)
            #expect(outcome.problems.isEmpty)
            #expect(outcome.imported == 2)
            let ben = try #require(try await env.store.person(id: "p2"))
            #expect(ben.person.givenName == "Ben, Jr")
            #expect(ben.person.email == "ben@example.org")
            #expect(ben.person.phone == nil)
            #expect(ben.mode == "routine")
            #expect(try await env.store.person(id: "p1")?.person.phone == "+447700900001")
        }
    }

    @Test("Every bad row is reported with row, column and reason, and nothing is written")
    func importInvalidWritesNothing() async throws {
        try await Fixtures.withEnvironment { env in
            let csv = """
            \(Self.header)
            p1,Ana,+447700900001,,,community,2026-11-02,,north
            p2,Ben,07700900002,,,community,2026-11-02,,north
            p3,Cat,,cat@example.org,Mars/Base,nowhere,2026-02-30,,north
            p1,Dup,+447700900004,,,community,2026-11-02,,north
            p5,Eve,,,,community,2026-11-02,,
            """
            let outcome = try await PeopleImporter(env: env).importCSV(csv, partial: false)
            #expect(outcome.imported == 0)
            let described = outcome.problems.map(\.description)
            #expect(described.contains { $0.hasPrefix("row 2 (line 3), column phone:") && $0.contains("E.164") })
            #expect(outcome.problems.contains { $0.row == 3 && $0.column == "timezone" })
            #expect(outcome.problems.contains { $0.row == 3 && $0.column == "pathway" && $0.reason.contains("community") })
            #expect(outcome.problems.contains { $0.row == 3 && $0.column == "start_date" })
            #expect(outcome.problems.contains { $0.row == 4 && $0.column == "id" && $0.reason.contains("row 1") })
            #expect(outcome.problems.contains { $0.row == 5 && $0.column == "team" })
            #expect(outcome.problems.contains { $0.row == 5 && $0.column == "phone" && $0.reason.contains("at least one") })
            #expect(try await env.store.countPeople() == 0, "a bad file must write nothing")
        }
    }

    @Test("With partial, the valid rows are written and the bad ones reported")
    func importPartial() async throws {
        try await Fixtures.withEnvironment { env in
            let csv = "\(Self.header)\np1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,0770,,,community,2026-11-02,,north\n"
            let outcome = try await PeopleImporter(env: env).importCSV(csv, partial: true)
            #expect(outcome.imported == 1)
            #expect(outcome.problems.count == 1)
            #expect(try await env.store.countPeople() == 1)
        }
    }

    @Test("A wrong header names the missing and unknown columns")
    func wrongHeader() async throws {
        try await Fixtures.withEnvironment { env in
            let outcome = try await PeopleImporter(env: env).importCSV("id,name,phone\np1,Ana,+447700900001\n", partial: false)
            #expect(outcome.problems.contains { $0.column == "given_name" && $0.row == nil })
            #expect(outcome.problems.contains { $0.column == "name" && $0.reason.contains("unknown column") })
        }
    }

    @Test("Importing an id that already exists fails whole: the transaction writes nothing")
    func duplicateInDatabase() async throws {
        try await Fixtures.withEnvironment { env in
            _ = try await PeopleImporter(env: env).importCSV("\(Self.header)\np1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
            await #expect(throws: StoreError.self) {
                try await PeopleImporter(env: env).importCSV("\(Self.header)\np9,Zed,+447700900009,,,community,2026-11-02,,north\np1,Ana,+447700900001,,,community,2026-11-02,,north\n", partial: false)
            }
            #expect(try await env.store.person(id: "p9") == nil)
        }
    }

    @Test("POST /api/v1/people creates a person; bad fields answer 422 naming each field; a clinician sees only their team")
    func api() async throws {
        try await Fixtures.withEnvironment { env in
            let integration = Credentials.newSecret(prefix: "rom_integration")
            let north = Credentials.newSecret(prefix: "rom_clinician")
            let south = Credentials.newSecret(prefix: "rom_clinician")
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(integration), role: .integration, team: nil, label: nil, now: env.now())
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(north), role: .clinician, team: "north", label: nil, now: env.now())
            try await env.store.insertToken(id: newID(), hash: Credentials.hash(south), role: .clinician, team: "south", label: nil, now: env.now())
            let app = Application(router: Routes.router(env))
            try await app.test(.router) { client in
                let json: HTTPFields = [.authorization: "Bearer \(integration)", .contentType: "application/json"]
                let created = try await client.execute(uri: "/api/v1/people", method: .post, headers: json, body: ByteBuffer(string: """
                {"id": "n1", "given_name": "Nia", "phone": "+447700900123", "pathway": "community", "start_date": "2026-11-02", "team": "north"}
                """))
                #expect(created.status == .created)
                let bad = try await client.execute(uri: "/api/v1/people", method: .post, headers: json, body: ByteBuffer(string: """
                {"id": "n2", "given_name": "", "phone": "0770", "pathway": "community", "start_date": "2026-13-01", "team": "north"}
                """))
                #expect(bad.status == .unprocessableContent)
                let body = String(buffer: bad.body)
                #expect(body.contains("\"given_name\"") && body.contains("\"phone\"") && body.contains("\"start_date\""))
                let again = try await client.execute(uri: "/api/v1/people", method: .post, headers: json, body: ByteBuffer(string: """
                {"id": "n1", "given_name": "Nia", "phone": "+447700900123", "pathway": "community", "start_date": "2026-11-02", "team": "north"}
                """))
                #expect(again.status == .conflict)
                let own = try await client.execute(uri: "/api/v1/people/n1", method: .get, headers: [.authorization: "Bearer \(north)"])
                #expect(own.status == .ok)
                let other = try await client.execute(uri: "/api/v1/people/n1", method: .get, headers: [.authorization: "Bearer \(south)"])
                #expect(other.status == .notFound, "a clinician in another team must not see the person")
                let list = try await client.execute(uri: "/api/v1/people", method: .get, headers: [.authorization: "Bearer \(south)"])
                #expect(!String(buffer: list.body).contains("\"n1\""))
            }
            let audit = try await env.store.auditEvents()
            #expect(audit.contains { $0.action == "person.read" && $0.personID == "n1" }, "staff reads of a person are audited")
        }
    }
}
