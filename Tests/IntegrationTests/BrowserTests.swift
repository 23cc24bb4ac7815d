import Delivery
import Foundation
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
            let report = try Browser.run(["checkin", "http://127.0.0.1:\(port)/c/\(token)", Browser.screenshotFolder])
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
}
