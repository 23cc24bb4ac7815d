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
            let all = request.uri.queryParameters["status"].map(String.init) == "all"
            let flags = try await env.store.flags(team: team, openOnly: !all)
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "flags.list", personID: nil,
                                                 detail: "\(flags.count) flags", requestID: context.id))
            return try jsonResponse(["flags": flags.map { FlagJSON($0, catalog: env.configuration.instruments) }])
        }
        for status in ["acknowledged", "actioned"] {
            let verb = status == "acknowledged" ? "acknowledge" : "action"
            table.add(.post, "/api/v1/flags/:id/\(verb)", .roles([.ops, .clinician])) { request, context in
                let id = context.parameters.get("id") ?? ""
                guard let flag = try await env.store.flag(id: id),
                      context.identity?.role != .clinician || context.identity?.team == flag.team else {
                    throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)` in your team")
                }
                let body = try await request.body.collect(upTo: 16 * 1024)
                let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
                let note = (object["note"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines)
                if status == "actioned" && (note ?? "").isEmpty {
                    throw APIError(status: .unprocessableContent, code: "note_required", message: "say what was done: {\"note\": \"…\"}")
                }
                switch try await env.store.advanceFlag(id: id, to: status, by: context.actor, note: note, now: env.now()) {
                case .success:
                    return try jsonResponse(try await env.store.flag(id: id).map { FlagJSON($0, catalog: env.configuration.instruments) })
                case .failure(.notFound):
                    throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)`")
                case .failure(.backwards(let current)):
                    throw APIError(status: .conflict, code: "status_backwards", message: "the flag is already \(current); statuses only move forward")
                }
            }
        }
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
