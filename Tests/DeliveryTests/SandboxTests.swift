import Delivery
import Foundation
import ROMTesting
import Scheduling
import Storage
import Testing

@Suite("Sandbox gateway and message composition")
struct SandboxTests {
    let templates: [String: String] = {
        var templates: [String: String] = [:]
        for name in MessageComposer.required {
            templates[name] = try? String(contentsOfFile: "\(Fixtures.configDirectory)/templates/\(name).mustache", encoding: .utf8)
        }
        return templates
    }()

    @Test("The shipped SMS carries the given name and the link and nothing clinical")
    func smsContent() throws {
        let composer = try MessageComposer(templates: templates)
        let message = composer.compose(personID: "p1", givenName: "Ana", channel: .sms, recipient: "+447700900001",
                                       link: "https://x.example/c/abc", unsubscribeLink: nil, idempotencyKey: "k1")
        #expect(message.text.contains("Ana"))
        #expect(message.text.contains("https://x.example/c/abc"))
        for word in ["PHQ", "GAD", "depress", "anxiety", "mental", "score"] {
            #expect(!message.text.localizedCaseInsensitiveContains(word), "SMS contains `\(word)`")
        }
    }

    @Test("The shipped email has a subject, text and HTML with the link and an unsubscribe link")
    func emailContent() throws {
        let composer = try MessageComposer(templates: templates)
        let message = composer.compose(personID: "p1", givenName: "Ana", channel: .email, recipient: "a@example.org",
                                       link: "https://x.example/c/abc", unsubscribeLink: "https://x.example/u/1", idempotencyKey: "k1")
        #expect(message.subject == "Your check-in is ready")
        #expect(message.text.contains("https://x.example/u/1"))
        #expect(message.html?.contains("href=\"https://x.example/c/abc\"") == true)
    }

    @Test("A message sent through the sandbox is stored with its link and key, and listed newest first")
    func sandboxStores() async throws {
        try await Fixtures.withStore { store, _ in
            let gateway = SandboxGateway(name: "sandbox-sms", channel: .sms, store: store)
            let message = OutboundMessage(personID: "p1", channel: .sms, recipient: "+447700900001", subject: nil, text: "Hi",
                                          html: nil, link: "https://x.example/c/abc", idempotencyKey: "key-1")
            let outcome = await gateway.send(message, now: Fixtures.fixedNow)
            guard case .accepted(let id) = outcome else {
                Issue.record("sandbox did not accept: \(outcome)")
                return
            }
            #expect(id?.hasPrefix("sandbox-") == true)
            let stored = try await store.sandboxMessages()
            #expect(stored.count == 1)
            #expect(stored.first?.link == "https://x.example/c/abc")
            #expect(stored.first?.idempotencyKey == "key-1")
        }
    }
}
