import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Delivery
import Intake
import Review
import ROMService
import ROMTesting
import Scheduling
import Storage
import Testing

/// Reviews are records the scheduler keeps ahead of any prompt, and the pack for now is the next review's.
@Suite("Review records", .serialized)
struct ReviewRecordsTests {
    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func json(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ token: String, _ body: String = "") async throws -> (HTTPResponse.Status, [String: Any]) {
        try await Harness.json(client, method, uri, token, body)
    }

    func token(_ env: ServiceEnvironment, _ role: Role, team: String? = nil, now: Date) async throws -> String {
        let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
        try await env.store.insertToken(id: newID(), hash: Credentials.hash(secret), role: role, team: team, label: nil, now: now)
        return secret
    }

    @Test("Enrolled today, baseline answered: the pack for now is the next review's and shows PHQ-9 2,2,1,1,2,1,1,1,2 as 13, moderate, with the item-9 flag — in JSON and FHIR")
    func baselineOnlyPack() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let link = try await harness.sendBaseline()
        let prompts = try await harness.env.store.openPrompts(personID: "p1", now: harness.clock.now)
        // PHQ-9 2,2,1,1,2,1,1,1,2: total 13 (sum of items, instruments.md), band moderate (10–14), item 9 = 2 > 0 → risk flag.
        let answers: [String: [Int]] = ["phq9": [2, 2, 1, 1, 2, 1, 1, 1, 2], "gad7": [1, 1, 1, 1, 0, 0, 0], "goals": [3, 5]]
        let form = prompts.flatMap { prompt in (answers[prompt.instrument] ?? []).enumerated().map { "a.\(prompt.id).\($0.offset + 1)=\($0.element)" } }
            .joined(separator: "&") + "&action=send"
        harness.clock.advance(by: 3_600)
        let ops = try await token(harness.env, .ops, now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let sent = try await client.execute(uri: "/c/\(link)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: form))
            #expect(sent.status == .ok)

            let (status, listed) = try await json(client, .get, "/api/v1/people/p1/reviews", ops)
            #expect(status == .ok)
            let reviews = try #require(listed["reviews"] as? [[String: Any]])
            #expect(reviews.map { $0["kind"] as? String } == ["baseline", "cadence"], "the baseline and the next review, before any prompt for it")
            let next = try #require(listed["next_review"] as? [String: Any])
            // 28 days after the start, at 09:00 in London (GMT in November).
            #expect(next["at"] as? String == "2026-11-30T09:00:00Z" && next["kind"] as? String == "cadence")
            #expect(reviews.last?["status"] as? String == "planned" && reviews.last?["overdue"] as? Bool == false)

            let (packStatus, pack) = try await json(client, .get, "/api/v1/people/p1/review", ops)
            #expect(packStatus == .ok)
            #expect(pack["reviewAt"] as? String == "2026-11-30T09:00:00Z" || pack["review_at"] as? String == "2026-11-30T09:00:00Z", "\(pack.keys.sorted())")
            let measures = try #require(pack["measures"] as? [[String: Any]])
            let phq9 = try #require(measures.first { $0["instrument"] as? String == "phq9" })
            let latest = try #require(phq9["latest"] as? [String: Any])
            #expect(latest["total"] as? Double == 13)
            #expect(latest["band"] as? String == "moderate")
            let flags = try #require(pack["flags"] as? [[String: Any]])
            let item9 = try #require(flags.first { $0["kind"] as? String == "PHQ9_ITEM9_POSITIVE" })
            #expect(item9["title"] as? String == "PHQ-9 item 9 answered More than half the days", "the pack says it as a clinician reads it")
            #expect((item9["evidence_lines"] as? [String])?.last == "Answer: 2 (More than half the days)")

            // On the page: the title and its evidence; actioning needs a note saying what was done.
            let cookie = try await harness.session(.clinician, team: "north")
            let page = String(buffer: try await client.execute(uri: "/clinician/people/p1/review", method: .get, headers: [.cookie: cookie]).body)
            #expect(page.contains("PHQ-9 item 9 answered More than half the days") && page.contains("Thoughts that you would be better off dead"))
            #expect(page.contains("<a href=\"#measure-phq9\">the answers and scores</a>") && page.contains("id=\"measure-phq9\""), "the flag links to its measure")
            let flagID = try #require(item9["id"] as? String)
            let form: HTTPFields = [.cookie: cookie, .origin: "http://127.0.0.1:8080", .contentType: "application/x-www-form-urlencoded"]
            #expect(try await client.execute(uri: "/clinician/flags/\(flagID)/action", method: .post, headers: form, body: ByteBuffer(string: "note=+")).status
                    == .unprocessableContent)
            #expect(try await client.execute(uri: "/clinician/flags/\(flagID)/action", method: .post, headers: form,
                                             body: ByteBuffer(string: "note=Called+Ana%2C+safety+plan+agreed&next=%2Fclinician%2Fpeople%2Fp1%2Freview")).status == .found)
            let actioned = try await harness.env.store.flag(id: flagID)
            #expect(actioned?.status == "actioned" && actioned?.note == "Called Ana, safety plan agreed")

            let fhir = try await client.execute(uri: "/api/v1/people/p1/review?format=fhir", method: .get, headers: [.authorization: "Bearer \(ops)"])
            let bundle = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: fhir.body).utf8)) as? [String: Any])
            let resources = (bundle["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
            #expect(!resources.isEmpty, "never an empty bundle for a person who has answered")
            #expect(String(buffer: fhir.body).contains("13"), "the PHQ-9 total is in the bundle")
        }
        let caseload = try await harness.env.store.caseload(team: "north", now: harness.clock.now)
        #expect(caseload.first?.nextReview == Self.date("2026-11-30T09:00:00Z"), "the caseload shows the next review")
        await harness.close()
    }

    @Test("Stepping up re-plans the reviews: the 4-weekly one is cancelled and weekly ones planned; a booked review replaces the cadence one within a cadence; each planned review exists once")
    func replanning() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(Self.date("2026-11-10T10:00:00Z"))
        let ops = try await token(harness.env, .ops, now: harness.clock.now)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            #expect(try await json(client, .put, "/api/v1/people/p1/mode", ops, #"{"mode": "step_up"}"#).0 == .ok)
            let person = try await json(client, .get, "/api/v1/people/p1", ops).1
            let history = try #require(person["mode_history"] as? [[String: Any]])
            #expect(history.count == 1 && history.first?["mode"] as? String == "step_up" && history.first?["at"] as? String == "2026-11-10T10:00:00Z")
            let reviews = try #require(try await json(client, .get, "/api/v1/people/p1/reviews", ops).1["reviews"] as? [[String: Any]])
            let routine = reviews.first { $0["at"] as? String == "2026-11-30T09:00:00Z" }
            #expect(routine?["status"] as? String == "cancelled", "the 4-weekly review no longer happens")
            let next = try #require(try await json(client, .get, "/api/v1/people/p1/reviews", ops).1["next_review"] as? [String: Any])
            // Weekly from the switch on 10 Nov: 17 Nov at 09:00.
            #expect(next["at"] as? String == "2026-11-17T09:00:00Z")

            // A booking on 20 Nov replaces the cadence review of 17 Nov (within one cadence before it).
            #expect(try await json(client, .post, "/api/v1/people/p1/reviews", ops, #"{"at": "2026-11-20"}"#).0 == .created)
            let after = try await json(client, .get, "/api/v1/people/p1/reviews", ops).1
            let next2 = try #require(after["next_review"] as? [String: Any])
            #expect(next2["kind"] as? String == "booked" && next2["at"] as? String == "2026-11-20T09:00:00Z")
            let planned = (after["reviews"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "planned" }.compactMap { $0["at"] as? String }
            #expect(Set(planned).count == planned.count, "no review planned twice")
            #expect(!planned.contains("2026-11-17T09:00:00Z"))
        }
        // Ticking again changes nothing.
        let inputs = try await harness.env.store.schedulingInputs(personID: "p1") { _ in "Europe/London" }
        let before = try await harness.env.store.reviews(personID: "p1")
        _ = try await SchedulerRunner(env: harness.env).tick(now: harness.clock.now)
        #expect(try await harness.env.store.reviews(personID: "p1") == before)
        #expect(inputs.first?.recorded.isEmpty == false)
        await harness.close()
    }

    @Test("After an SMS STOP the person's record says why nothing goes out: sms opted_out via sms_keyword since the STOP, email active, next review — in JSON and on the person's page")
    func channelsOnTheRecord() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let harness = try await Harness.make(receiver: receiver, smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,ana@example.org,,community,2026-11-02,,north")
        harness.clock.set(Self.date("2026-11-03T10:00:00Z"))
        let ops = try await token(harness.env, .ops, now: harness.clock.now)
        let cookie = try await harness.session(.clinician, team: "north")
        let pairs = [("MessageSid", "SM1"), ("From", "+447700900001"), ("Body", "STOP")]
        let headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded",
                                   HTTPField.Name("X-Twilio-Signature")!: TwilioSignature.expected(url: "http://127.0.0.1:8080/inbound/sms/test-sms", parameters: pairs, authToken: "12345")]
        let body = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let stop = try await client.execute(uri: "/inbound/sms/test-sms", method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(stop.status == .ok)
            await harness.env.background.drain()
            let (status, person) = try await json(client, .get, "/api/v1/people/p1", ops)
            #expect(status == .ok)
            let channels = try #require(person["channels"] as? [[String: Any]])
            let sms = try #require(channels.first { $0["channel"] as? String == "sms" })
            #expect(sms["status"] as? String == "opted_out" && sms["via"] as? String == "sms_keyword" && sms["since"] as? String == "2026-11-03T10:00:00Z")
            let email = try #require(channels.first { $0["channel"] as? String == "email" })
            #expect(email["status"] as? String == "active" && email["via"] as? String == "enrolment")
            #expect((person["next_review"] as? [String: Any])?["at"] as? String == "2026-11-30T09:00:00Z")
            #expect(person["given_name"] as? String == "Ana" && person["mode"] as? String == "routine")

            let page = try await client.execute(uri: "/clinician/people/p1", method: .get, headers: [.cookie: cookie])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("opted out by SMS STOP on Tue 3 Nov 2026: nothing is sent on this channel"))
            #expect(html.contains("Next review:</strong> Mon 30 Nov 2026 (cadence)"))
            #expect(html.contains("review?review=2026-11-30"))
        }
        await harness.close()
    }

    @Test("A review past its time is overdue on the caseload and in its record until held (interpretation first) or missed; a held review stays held; rescheduling books the new time and the cadence review it replaces is cancelled")
    func workflow() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(Self.date("2026-12-01T10:00:00Z"))
        _ = try await SchedulerRunner(env: harness.env).tick(now: harness.clock.now)
        let ops = try await token(harness.env, .ops, now: harness.clock.now)
        let cookie = try await harness.session(.clinician, team: "north")
        #expect(try await harness.env.store.caseload(team: "north", now: harness.clock.now).first?.overdueSince == Self.date("2026-11-30T09:00:00Z"))
        let overdue = try #require(try await harness.env.store.reviews(personID: "p1").first { $0.at == Self.date("2026-11-30T09:00:00Z") })
        #expect(overdue.isOverdue(now: harness.clock.now))
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let refused = try await json(client, .post, "/api/v1/people/p1/reviews/\(overdue.id)/held", ops, "{}")
            #expect(refused.0 == .unprocessableContent && (refused.1["detail"] as? String)?.contains("interpretation") == true)
            let page = try await client.execute(uri: "/clinician/people/p1", method: .get, headers: [.cookie: cookie])
            #expect(String(buffer: page.body).contains("overdue") && String(buffer: page.body).contains("Mark held"))
            let held = try await client.execute(uri: "/clinician/people/p1/reviews/\(overdue.id)/held", method: .post,
                                                headers: [.cookie: cookie, .origin: "http://127.0.0.1:8080", .contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: "interpretation=PHQ-9+down+6%2C+matches+her+account"))
            #expect(held.status == .seeOther)
            let again = try await json(client, .post, "/api/v1/people/p1/reviews/\(overdue.id)/missed", ops, "{}")
            #expect(again.0 == .unprocessableContent, "a held review is not then missed")

            // The next cadence review (28 Dec) moved to 4 Jan: a booking, and the cadence one is cancelled.
            let next = try #require(try await harness.env.store.reviews(personID: "p1").first { $0.status == "planned" && $0.kind == "cadence" && $0.at > harness.clock.now })
            #expect(next.at == Self.date("2026-12-28T09:00:00Z"))
            #expect(try await json(client, .post, "/api/v1/people/p1/reviews/\(next.id)/missed", ops, "{}").0 == .unprocessableContent, "not missed before its time")
            let moved = try await json(client, .post, "/api/v1/people/p1/reviews/\(next.id)/reschedule", ops, #"{"at": "2027-01-04"}"#)
            #expect(moved.0 == .ok && moved.1["at"] as? String == "2027-01-04T09:00:00Z")
            let listed = try await json(client, .get, "/api/v1/people/p1/reviews", ops).1
            let rows = try #require(listed["reviews"] as? [[String: Any]])
            #expect(rows.first { $0["id"] as? String == next.id }?["status"] as? String == "cancelled")
            #expect((listed["next_review"] as? [String: Any])?["kind"] as? String == "booked")
            let heldRow = try #require(rows.first { $0["id"] as? String == overdue.id })
            #expect(heldRow["status"] as? String == "held" && heldRow["interpretation"] as? String == "PHQ-9 down 6, matches her account")
            #expect(heldRow["status_by"] as? String != nil && heldRow["overdue"] as? Bool == false)
        }
        _ = try await SchedulerRunner(env: harness.env).tick(now: harness.clock.now)
        #expect(try await harness.env.store.reviews(personID: "p1").first { $0.id == overdue.id }?.status == "held", "the scheduler leaves a held review held")
        #expect(try await harness.env.store.caseload(team: "north", now: harness.clock.now).first?.overdueSince == nil)
        #expect(try await harness.env.store.auditEvents(limit: 30).contains { $0.action == "review.held" && $0.personID == "p1" })
        // Completeness counts reviews from their records: 30 Nov past and held; the 4 Jan booking ahead (28 Dec cancelled).
        let scope = ReportScope(from: Self.date("2026-11-01T00:00:00Z"), to: Self.date("2027-02-01T00:00:00Z"), pathway: nil, team: nil)
        let (rows, _) = try await ReportRunner(env: harness.env).run(.completeness, scope: scope)
        #expect(rows.contains(["reviews past their time", "1", "", "", ""]))
        #expect(rows.contains(["reviews held", "1", "1", "100.0", ""]))
        #expect(rows.contains(["reviews overdue (neither held nor missed)", "0", "1", "0.0", ""]))
        #expect(rows.contains { $0.first == "reviews still ahead" && $0[1] != "0" })
        await harness.close()
    }
}
