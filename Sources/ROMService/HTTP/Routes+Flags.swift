import Foundation
import HTTPTypes
import Hummingbird
import Storage

extension Routes {
    /// The flag list and the acknowledge → action workflow; clinicians see and act on their own team's flags only.
    static func flags(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.get, "/api/v1/flags", .roles([.ops, .clinician])) { request, context in
            let team = context.identity?.role == .clinician ? (context.identity?.team ?? "\u{0}") : nil
            let all = request.uri.queryParameters["status"].map(String.init) == "all"
            let flags = try await env.store.flags(team: team, openOnly: !all)
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.identity?.id ?? "?", action: "flags.list", personID: nil,
                                                 detail: "\(flags.count) flags", requestID: context.id))
            return try jsonResponse(["flags": flags])
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
                switch try await env.store.advanceFlag(id: id, to: status, by: context.identity?.id ?? "?", note: note, now: env.now()) {
                case .success:
                    return try jsonResponse(try await env.store.flag(id: id))
                case .failure(.notFound):
                    throw APIError(status: .notFound, code: "not_found", message: "no flag `\(id)`")
                case .failure(.backwards(let current)):
                    throw APIError(status: .conflict, code: "status_backwards", message: "the flag is already \(current); statuses only move forward")
                }
            }
        }
    }
}
