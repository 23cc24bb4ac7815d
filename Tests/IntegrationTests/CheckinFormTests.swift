import Delivery
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

/// The whole loop: scheduled, sent through the sandbox, the link opened and answered, scored and flagged.
@Suite("Check-in form", .serialized)
struct CheckinFormTests {
    let sendTime = ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!

    /// Seeds one person, dispatches their baseline through the sandbox and returns the link's token.
    func prepare() async throws -> (Harness, String) {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(sendTime)
        let summary = try await harness.worker().runOnce()
        #expect(summary.accepted == 1)
        let link = try #require(try await harness.env.store.sandboxMessages().first?.link)
        return (harness, String(link.split(separator: "/").last!))
    }

    func form(_ harness: Harness, phq9: [Int], gad7: [Int], goals: [Int]) async throws -> String {
        let prompts = try await harness.env.store.openPrompts(personID: "p1", now: sendTime)
        var fields: [String] = []
        for prompt in prompts {
            let values = prompt.instrument == "phq9" ? phq9 : prompt.instrument == "gad7" ? gad7 : goals
            for (index, value) in values.enumerated() { fields.append("a.\(prompt.id).\(index + 1)=\(value)") }
        }
        return fields.joined(separator: "&")
    }

    @Test("Save and finish later: the link stays usable, answers come back filled in, a risk answer is flagged at once (once), and sending replaces the draft")
    func saveAsYouGo() async throws {
        let (harness, token) = try await prepare()
        let prompts = try await harness.env.store.openPrompts(personID: "p1", now: sendTime)
        let phq9 = try #require(prompts.first { $0.instrument == "phq9" }).id
        let partial = "a.\(phq9).1=2&a.\(phq9).9=1&action=save"
        let post: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            for _ in 0..<2 {
                let saved = try await client.execute(uri: "/c/\(token)", method: .post, headers: post, body: ByteBuffer(string: partial))
                #expect(saved.status == .ok)
                #expect(String(buffer: saved.body).contains("Your answers are saved"))
                #expect(String(buffer: saved.body).contains("SHOUT to 85258"))
            }
            let flags = try await harness.env.store.openFlags(personID: "p1")
            #expect(flags.filter { $0.kind == "PHQ9_ITEM9_POSITIVE" }.count == 1, "flagged on the first save, not again on the second")
            let page = String(buffer: try await client.execute(uri: "/c/\(token)", method: .get).body)
            #expect(page.contains("name=\"a.\(phq9).1\" value=\"2\" checked"), "the saved answer is filled back in")
            #expect(page.contains("name=\"a.\(phq9).9\" value=\"1\" checked"))
            #expect(!page.contains("name=\"a.\(phq9).2\" value=\"0\" checked"))
            let body = try await form(harness, phq9: [2, 2, 0, 3, 1, 0, 2, 1, 1], gad7: [1, 1, 1, 1, 0, 0, 0], goals: [3, 5])
            let sent = try await client.execute(uri: "/c/\(token)", method: .post, headers: post, body: ByteBuffer(string: body))
            #expect(String(buffer: sent.body).contains("Thank you, your answers have been sent"))
        }
        #expect(try await harness.env.store.draft(tokenHash: LinkSigner.hash(token)) == nil, "the draft is gone once the answers are sent")
        await harness.close()
    }

    @Test("GET and HEAD show the form without using the link up; the POST scores, raises the risk flag, and shows crisis signposting")
    func answerAndFlag() async throws {
        let (harness, token) = try await prepare()
        let body = try await form(harness, phq9: [1, 2, 0, 3, 1, 0, 2, 1, 1], gad7: [1, 1, 1, 1, 0, 0, 0], goals: [3, 5])
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            _ = try await client.execute(uri: "/c/\(token)", method: .head)
            for _ in 0..<5 {
                let page = try await client.execute(uri: "/c/\(token)", method: .get)
                #expect(page.status == .ok)
                #expect(page.headers[.cacheControl] == "no-store")
                // Never sent to another site (the link is a credential); same-origin so that our own forms carry a real Origin.
                #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin")
                let html = String(buffer: page.body)
                #expect(html.contains("<fieldset>") && html.contains("<legend>"))
                #expect(html.contains("Little interest or pleasure in doing things"))
                #expect(!html.contains("<script"), "no JavaScript, no third-party resources")
            }
            let answered = try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                    body: ByteBuffer(string: body))
            #expect(answered.status == .ok)
            #expect(String(buffer: answered.body).contains("SHOUT to 85258"), "the confirmation always shows the crisis text")
            let again = try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                 body: ByteBuffer(string: body))
            #expect(String(buffer: again.body).contains("We already have your answers"))
        }
        let counts = try await harness.env.store.schedulingCounts()
        #expect(counts.prompts["answered"] == 3)
        let flags = try await harness.env.store.openFlags(personID: "p1")
        #expect(flags.contains { $0.kind == "PHQ9_ITEM9_POSITIVE" && $0.severity == "urgent" && $0.evidence.contains("\"item\":9") })
        let totals = try await harness.env.store.read { db in
            try await db.raw("SELECT instrument, total, band FROM scores ORDER BY instrument").all().map {
                "\(try $0.decode(column: "instrument", as: String.self)) \(try $0.decode(column: "total", as: Double.self)) \(try $0.decode(column: "band", as: String?.self) ?? "-")"
            }
        }
        // PHQ-9 1+2+0+3+1+0+2+1+1 = 11 (moderate); GAD-7 4 (minimal); goals mean 4.
        #expect(totals == ["gad7 4.0 minimal", "goals 4.0 -", "phq9 11.0 moderate"])
        let raw = try await harness.env.store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM inbound_replies WHERE source = 'form'").first()?.decode(column: "n", as: Int.self)
        }
        #expect(raw == 1, "the raw submission is kept")
        await harness.close()
    }

    @Test("50 concurrent submissions of one link: exactly one is accepted, one set of responses is stored")
    func concurrentSubmissions() async throws {
        let (harness, token) = try await prepare()
        let body = try await form(harness, phq9: [0, 0, 0, 0, 0, 0, 0, 0, 0], gad7: [0, 0, 0, 0, 0, 0, 0], goals: [5])
        let router = Routes.router(harness.env)
        let pages = try await Application(router: router).test(.router) { client in
            try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        let response = try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                                body: ByteBuffer(string: body))
                        return String(buffer: response.body)
                    }
                }
                var pages: [String] = []
                for try await page in group { pages.append(page) }
                return pages
            }
        }
        #expect(pages.filter { $0.contains("your answers have been sent") }.count == 1)
        #expect(pages.filter { $0.contains("We already have your answers") }.count == 49)
        let responses = try await harness.env.store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM responses").first()?.decode(column: "n", as: Int.self)
        }
        #expect(responses == 3)
        await harness.close()
    }

    @Test("An out-of-range answer is refused naming the item, and the link still works")
    func badAnswer() async throws {
        let (harness, token) = try await prepare()
        let bad = try await form(harness, phq9: [0, 0, 0, 0, 0, 0, 0, 0, 7], gad7: [0, 0, 0, 0, 0, 0, 0], goals: [5])
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let refused = try await client.execute(uri: "/c/\(token)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: bad))
            #expect(refused.status == .unprocessableContent)
            #expect(String(buffer: refused.body).contains("item 9"))
            let page = try await client.execute(uri: "/c/\(token)", method: .get)
            #expect(page.status == .ok, "a refused submission does not use up the link")
        }
        let counts = try await harness.env.store.schedulingCounts()
        #expect(counts.prompts["answered"] == nil)
        await harness.close()
    }

    @Test("A link works through the 72h grace after its last closing time (the baseline closes 16 Nov 00:00), then has ended")
    func expiredLink() async throws {
        let (harness, token) = try await prepare()
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-16T00:00:01Z")!)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let late = try await client.execute(uri: "/c/\(token)", method: .get)
            #expect(late.status == .ok, "inside the grace the form still opens")
            #expect(String(buffer: late.body).contains("Little interest or pleasure in doing things"))
        }
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-19T00:00:01Z")!)
        try await Application(router: Routes.router(harness.env)).test(.router) { client in
            let ended = try await client.execute(uri: "/c/\(token)", method: .get)
            #expect(ended.status == .gone)
            let unknown = try await client.execute(uri: "/c/not-a-token", method: .get)
            #expect(unknown.status == .gone)
        }
        await harness.close()
    }
}
