import Delivery
import Foundation
import Intake
import Hummingbird
import HummingbirdTesting
import ROMService
import ROMTesting
import SQLKit
import Storage
import Testing

/// The check-in form in a real browser: headless Chromium on a phone-sized screen, tapping labels as a person would.
@Suite("Check-in in Chromium", .serialized)
struct BrowserTests {
    @Test("A person opens the link on a phone, answers every question by tapping, sends, and sees the confirmation with crisis text")
    func checkinInChromium() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-02T09:00:00Z")!)
        #expect(try await harness.worker().runOnce().accepted == 1)
        let link = try #require(try await harness.env.store.sandboxMessages().first?.link)
        let token = String(link.split(separator: "/").last!)
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do { try await app.test(.live) { client in
            let port = try #require(client.port)
            let report = try await Browser.run(["checkin", "http://127.0.0.1:\(port)/c/\(token)", Browser.screenshotFolder])
            #expect(report["scripts"] as? Int == 0, "the page works with no JavaScript of its own")
            #expect(report["overflow"] as? Bool == false, "nothing wider than a 390-pixel phone screen")
            let questions = try #require(report["questions"] as? Int)
            // PHQ-9 (9) + GAD-7 (7) + goals (up to 3 in the shipped definition).
            #expect(questions >= 16, "every question of the three measures is on the page")
            #expect(report["answered"] as? Int == questions, "tapping each label selected its answer")
            #expect(report["fieldsets"] as? Int == questions && report["legends"] as? Int == questions, "one fieldset with a legend per question")
            #expect((report["smallest_target"] as? Double ?? 0) >= 44, "tap targets at least 44 px high")
            let confirmation = try #require(report["confirmation"] as? String)
            #expect(confirmation.contains("Thank you, your answers have been sent"))
            #expect(confirmation.contains("SHOUT to 85258"))
        } } catch {
            Issue.record(error)
        }
        #expect(FileManager.default.fileExists(atPath: "\(Browser.screenshotFolder)/checkin-confirmation.png"))
        let scores = try await harness.env.store.read { db in try await db.raw("SELECT COUNT(*) AS n FROM scores").first()!.decode(column: "n", as: Int.self) }
        #expect(scores == 3, "the answers reached the store and were scored")
        await harness.close()
    }

    @Test("An ops member signs in in Chromium with email, password and a TOTP code from PyPI's pyotp, lands on `next`, and signs out (screenshots signin-*.png)")
    func signInInChromium() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        // The service's clock is real time here: the code comes from pyotp at the moment the browser types it.
        harness.clock.set(Date())
        let account = try await Fixtures.staffAccount(harness.env.store, email: "ops.lead@example.org", role: .ops, team: nil,
                                                      password: "plum orbit lantern 42", now: harness.clock.now)
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do { try await app.test(.live) { client in
            let port = try #require(client.port)
            let report = try await Browser.run(["signin", "http://127.0.0.1:\(port)", "ops.lead@example.org", "plum orbit lantern 42", account.uri,
                                                Browser.screenshotFolder], python: Browser.pyenvPython)
            #expect(report["login_fields"] as? [String] == ["email", "password"])
            #expect(report["code_url"] as? String == "/login/code")
            #expect(report["code_fields"] as? [String] == ["code"])
            #expect(report["signed_in_url"] as? String == "/ops/users", "the page asked for before signing in")
            #expect((report["signed_in_text"] as? String)?.contains("ops.lead@example.org") == true)
            #expect(report["cookies"] as? [String] == ["rom_session"])
            #expect(report["signed_out_url"] as? String == "/login", "the sign-out form passes the origin check as Chromium sends it")
            #expect(report["after_sign_out_url"] as? String == "/login")
        } } catch {
            Issue.record(error)
        }
        let audit = try await harness.env.store.auditEvents(limit: 10)
        #expect(audit.contains { $0.actor == "ops.lead@example.org" && $0.action == "user.sign_in" })
        #expect(try await harness.env.store.user(email: "ops.lead@example.org")?.totpLastStep ?? 0 > 0, "a real TOTP step was accepted")
        await harness.close()
    }

    @Test("A person's page renders in Chromium with the next review, each channel's state (an SMS STOP said in words) and the reviews (screenshot person.png)")
    func personPageInChromium() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        try await harness.seed("p1,Ana,+447700900001,ana@example.org,,community,2026-11-02,,north")
        harness.clock.set(ISO8601DateFormatter().date(from: "2026-11-03T10:00:00Z")!)
        try await harness.env.store.recordConsent(personID: "p1", channel: "sms", optedIn: false, source: "sms_keyword", inboundReplyID: nil, now: harness.clock.now)
        let cookie = try await harness.session(.clinician, team: "north")
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do { try await app.test(.live) { client in
            let port = try #require(client.port)
            let shot = "\(Browser.screenshotFolder)/person.png"
            let report = try await Browser.run(["page", "http://127.0.0.1:\(port)/clinician/people/p1", shot, cookie])
            let text = try #require(report["text"] as? String)
            #expect(text.contains("Next review: Mon 30 Nov 2026 (cadence)"))
            #expect(text.contains("opted out by SMS STOP on Tue 3 Nov 2026"))
            #expect(text.contains("ana@example.org") && text.contains("active"))
        } } catch {
            Issue.record(error)
        }
        await harness.close()
    }

    @Test("The team inbox renders in Chromium with each waiting reply, why it is there, and its actions (screenshot inbox.png)")
    func inboxInChromium() async throws {
        let harness = try await Harness.make(receiver: try HTTPReceiver(), smtp: nil, replyBySMS: true)
        try await harness.seed("p1,Ana,+447700900001,,,community,2026-11-02,,north")
        let now = ISO8601DateFormatter().date(from: "2026-11-03T10:00:00Z")!
        harness.clock.set(now)
        let pipeline = ReplyPipeline(env: harness.env)
        for (id, text) in [("SM1", "please stop texting me"), ("SM2", "I can't do this any more"), ("SM3", "P9 1 2")] {
            let stored = try #require(try await harness.env.store.receiveSMS(gateway: "test-sms", eventID: id, from: "+447700900001", rawBody: Array("Body=\(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)".utf8),
                                                                              contentType: "application/x-www-form-urlencoded", optIn: nil, now: now))
            try await pipeline.processText(text, reply: stored, channel: "sms", gateway: "test-sms", keywordRecorded: false, now: now)
        }
        let cookie = try await harness.session(.clinician, team: "north")
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do { try await app.test(.live) { client in
            let port = try #require(client.port)
            let shot = "\(Browser.screenshotFolder)/inbox.png"
            let report = try await Browser.run(["page", "http://127.0.0.1:\(port)/clinician/inbox", shot, cookie])
            let text = try #require(report["text"] as? String)
            #expect(text.contains("Inbox: team north") && text.contains("3 replies"))
            #expect(text.contains("please stop texting me") && text.contains("it reads like a wish to stop messages"))
            #expect(text.contains("I can't do this any more") && text.contains("URGENT: this reply raised an urgent flag"))
            #expect(text.contains("it names a code (P9) that is not one of the person's"))
            #expect(text.contains("Score these answers") && text.contains("Record as an opt-out of sms") && text.contains("Mark handled"))
            #expect(FileManager.default.fileExists(atPath: shot))
        } } catch {
            Issue.record(error)
        }
        #expect(try await harness.env.store.openFlags(personID: "p1").map(\.kind) == ["free_text_risk"])
        await harness.close()
    }

    @Test("A clinician's review page renders in Chromium with one trend chart per measure, drawn at full size, and prints the figures")
    func reviewPageInChromium() async throws {
        let harness = try await Harness.make(receiver: nil, smtp: nil)
        let now = ISO8601DateFormatter().date(from: "2026-11-24T12:00:00Z")!
        harness.clock.set(now)
        _ = try await DemoSeeder(env: harness.env).run(count: 3, days: 150, now: now, seed: 7)
        let cookie = try await Fixtures.staffSession(harness.env.store, role: .clinician, team: "north", now: now)
        let app = Application(router: Routes.router(harness.env), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do { try await app.test(.live) { client in
            let port = try #require(client.port)
            let shot = "\(Browser.screenshotFolder)/review-page.png"
            let report = try await Browser.run(["page", "http://127.0.0.1:\(port)/clinician/people/demo01/review", shot, cookie])
            let text = try #require(report["text"] as? String)
            #expect(text.contains("Review pack: Ana"))
            #expect(text.contains("PHQ-9") && text.contains("GAD-7"))
            #expect(text.contains("Change since baseline"))
            #expect(report["svgs"] as? Int == 2, "one chart each for PHQ-9 and GAD-7")
            let boxes = try #require(report["svg_boxes"] as? [[Double]])
            #expect(boxes.allSatisfy { $0[0] >= 600 && $0[1] >= 200 }, "charts render at their full 640×220 size: \(boxes)")
            #expect(FileManager.default.fileExists(atPath: shot))
        } } catch {
            Issue.record(error)
        }
        await harness.close()
    }
}
