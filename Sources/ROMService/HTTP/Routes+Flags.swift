import Foundation
import Instruments
import HTTPTypes
import Hummingbird
import Review
import Storage

extension Routes {
    /// The flag list and the acknowledge → action workflow; clinicians see and act on their own team's flags only.
    static func flags(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/api/v1/flags", .roles([.ops, .clinician])) { request, context in
            let team = context.identity?.role == .clinician ? (context.identity?.team ?? "\u{0}") : nil
            let all = try statusFilter(request) == "all"
            let paging = try PageRequest(request, keyLength: 3)
            let after = try paging.after.map { key in (urgent: key[0] == "0", raisedAtMillis: try PageRequest.number(key[1]), id: key[2]) }
            let page = paging.page(try await env.store.flags(team: team, openOnly: !all, after: after, limit: paging.limit + 1)) { flag in
                [flag.severity == "urgent" ? "0" : "1", String(flag.raisedAt.millis), flag.id]
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "flags.list", personID: nil,
                                                 detail: "\(page.items.count) flags", requestID: context.id))
            return try jsonResponse(ListPage(key: "flags", items: page.items.map { FlagJSON($0, catalog: env.configuration.instruments) },
                                             nextCursor: page.nextCursor))
        }
        table.add(.get, "/api/v1/flags/:id", .roles([.ops, .clinician])) { _, context in
            let flag = try await visibleFlag(context, env)
            return try jsonResponse(FlagJSON(flag, catalog: env.configuration.instruments)).tagged(EntityTag.of(flag: flag))
        }
        for status in ["acknowledged", "actioned"] {
            let verb = status == "acknowledged" ? "acknowledge" : "action"
            table.add(.post, "/api/v1/flags/:id/\(verb)", .roles([.ops, .clinician])) { request, context in
                let id = try await visibleFlag(context, env).id
                let body = try await RequestBody.decode(FlagNote.self, from: request, limit: 16 * 1024, emptyAsObject: true)
                let note = body.note?.trimmingCharacters(in: .whitespacesAndNewlines)
                if status == "actioned" && (note ?? "").isEmpty {
                    throw APIError(status: .unprocessableContent, code: "note_required", message: "say what was done: {\"note\": \"…\"}")
                }
                var condition: (@Sendable (FlagRecord) -> Bool)?
                if let matches = EntityTag.ifMatch(request) { condition = { flag in matches(EntityTag.of(flag: flag)) } }
                switch try await env.store.advanceFlag(id: id, to: status, by: context.actor, note: note, now: env.now(), if: condition) {
                case .success:
                    guard let flag = try await env.store.flag(id: id) else { throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)`") }
                    return try jsonResponse(FlagJSON(flag, catalog: env.configuration.instruments)).tagged(EntityTag.of(flag: flag))
                case .failure(.notFound):
                    throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)`")
                case .failure(.backwards(let current)):
                    throw APIError(status: .conflict, code: "status_backwards", message: "the flag is already \(current); statuses only move forward")
                case .failure(.stale(let current)):
                    throw EntityTag.preconditionFailed(current: EntityTag.of(flag: current))
                }
            }
        }
    }

    struct FlagNote: Decodable {
        var note: String?
    }

    /// The flag in the path, if the caller may see it (a clinician: their own team's); 404 otherwise.
    static func visibleFlag(_ context: ROMRequestContext, _ env: ServiceEnvironment) async throws -> FlagRecord {
        let id = context.parameters.get("id") ?? ""
        guard let flag = try await env.store.flag(id: id), context.identity?.role != .clinician || context.identity?.team == flag.team else {
            throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)` in your team")
        }
        return flag
    }
}

/// A flag in JSON: the stored record with its `title` and `evidence_lines` as a clinician reads them.
struct FlagJSON: Encodable {
    var flag: FlagRecord
    var description: FlagDescription

    init(_ flag: FlagRecord, catalog: InstrumentCatalog) {
        self.flag = flag
        self.description = FlagDescription.describe(kind: flag.kind, evidence: flag.evidence, catalog: catalog)
    }

    enum Keys: String, CodingKey { case title, evidenceLines = "evidence_lines", instrument }

    func encode(to encoder: any Encoder) throws {
        try flag.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(description.title, forKey: .title)
        try container.encode(description.evidence, forKey: .evidenceLines)
        try container.encode(description.instrument, forKey: .instrument)
    }
}
