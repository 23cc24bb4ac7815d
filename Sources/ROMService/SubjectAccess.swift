public import Foundation
import Logging
import Review
public import Storage

/// Contact erasure and the subject access export, for `rom people erase-contact|export` and the ops API alike.
public struct SubjectAccess: Sendable {
    let env: ServiceEnvironment

    public init(env: ServiceEnvironment) {
        self.env = env
    }

    /// Blanks the person's phone and email everywhere they are stored and stops contact (see `SQLStore.eraseContact`);
    /// nil when there is no such person.
    public func eraseContact(personID: String, actor: String, requestID: String? = nil) async throws -> ErasureReport? {
        let report = try await env.store.eraseContact(personID: personID, actor: actor, requestID: requestID, now: env.now())
        if report != nil { env.logger.notice("contact erased", metadata: ["person": "\(personID)"]) }
        return report
    }

    /// The person's whole record as one JSON document: the person and their channels, a FHIR R4 Bundle of every
    /// response and score (goals included), the raw replies as received, the messages sent and the audit of who read
    /// or changed the record. The export itself is audited first, so it lists itself. Nil when there is no such person.
    public func export(personID: String, actor: String, requestID: String? = nil) async throws -> Data? {
        guard let record = try await env.store.person(id: personID) else { return nil }
        let now = env.now()
        try await env.store.audit(AuditEvent(at: now, actor: actor, action: "person.export", personID: personID, detail: "subject access export", requestID: requestID))
        let overview = try await PersonOverview.read(record, env: env)
        // Everything up to now: a pack "for a review at now" holds every score ever recorded.
        let renderer = try ReviewRenderer(configuration: env.configuration)
        let bundle = try await ReviewBuilder(env: env).pack(personID: personID, reviewAt: now, now: now).map { renderer.render($0, as: .fhir) } ?? "{}"
        let records = try await env.store.subjectAccessRecords(personID: personID)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        func object(_ value: some Encodable) throws -> Any { try JSONSerialization.jsonObject(with: try encoder.encode(value), options: [.fragmentsAllowed]) }
        let document: [String: Any] = [
            "generated_at": ISO8601DateFormatter().string(from: now),
            "person": try object(PersonJSON(overview: overview)),
            "reviews": try object(overview.reviews.map { ReviewJSON($0, now: now) }),
            "fhir": try JSONSerialization.jsonObject(with: Data(bundle.utf8)),
            "raw_replies": try object(records.rawReplies),
            "messages": try object(records.messages),
            "audit": try object(records.audit),
        ]
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    }
}
