public import Foundation
public import Scheduling
public import Storage

/// Delivers nowhere: keeps each message so it can be read at `/ops/sandbox`.
public struct SandboxGateway: Gateway {
    public let name: String
    public let channel: Channel
    private let store: SQLStore

    public init(name: String, channel: Channel, store: SQLStore) {
        self.name = name
        self.channel = channel
        self.store = store
    }

    public func send(_ message: OutboundMessage, now: Date) async -> SendOutcome {
        let id = newID()
        do {
            try await store.insertSandboxMessage(SandboxMessage(
                id: id, gateway: name, channel: message.channel.rawValue, recipient: message.recipient, subject: message.subject,
                body: message.text, link: message.link, idempotencyKey: message.idempotencyKey, createdAt: now))
            return .accepted(providerMessageID: "sandbox-\(id)")
        } catch {
            return .transient(reason: "sandbox_store_failed", retryAfter: nil)
        }
    }
}
