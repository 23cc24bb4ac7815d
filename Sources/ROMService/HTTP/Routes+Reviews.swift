import Foundation
import HTTPTypes
import Hummingbird
import Scheduling
import Storage

extension Routes {
    /// Booked reviews and routine ↔ step-up switches: both re-plan the person's prompts at once.
    static func reviews(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/api/v1/people/:id/reviews", .roles([.ops, .clinician, .integration])) { request, context in
            let id = try await visiblePerson(context, env)
            let body = try await jsonObject(request)
            guard let text = body["at"] as? String, let at = parseInstantOrDate(text, timezone: try await timezone(of: id, env)) else {
                throw APIError(status: .unprocessableContent, code: "invalid_review",
                               message: "give `at` as an ISO-8601 instant (2026-12-10T14:00:00Z) or a date (2026-12-10, at 09:00 local)")
            }
            let reviewID = try await env.store.bookReview(personID: id, reviewID: body["id"] as? String, at: at, now: env.now())
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.identity?.id ?? "?", action: "review.book", personID: id,
                                                 detail: reviewID, requestID: context.id))
            let applied = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(["id": reviewID, "at": ISO8601DateFormatter().string(from: at),
                                     "replanned": "created \(applied.created), rescheduled \(applied.rescheduled), expired \(applied.expired)"],
                                    status: body["id"] == nil ? .created : .ok)
        }
        table.add(.delete, "/api/v1/people/:id/reviews/:review", .roles([.ops, .clinician, .integration])) { _, context in
            let id = try await visiblePerson(context, env)
            let review = context.parameters.get("review") ?? ""
            do {
                try await env.store.cancelReview(personID: id, reviewID: review)
            } catch let error as StoreError {
                throw APIError(status: .notFound, code: "not_found", message: error.description)
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.identity?.id ?? "?", action: "review.cancel", personID: id,
                                                 detail: review, requestID: context.id))
            _ = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return Response(status: .noContent)
        }
        table.add(.put, "/api/v1/people/:id/mode", .roles([.ops, .clinician])) { request, context in
            let id = try await visiblePerson(context, env)
            let body = try await jsonObject(request)
            guard let text = body["mode"] as? String, let mode = Mode(rawValue: text) else {
                throw APIError(status: .unprocessableContent, code: "invalid_mode", message: "`mode` must be routine or step_up")
            }
            try await env.store.setMode(personID: id, mode: mode, now: env.now())
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.identity?.id ?? "?", action: "mode.set", personID: id,
                                                 detail: mode.rawValue, requestID: context.id))
            let applied = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(["mode": mode.rawValue, "replanned": "created \(applied.created), expired \(applied.expired)"])
        }
    }

    /// The person in the path, if the caller may see them; 404 otherwise.
    static func visiblePerson(_ context: ROMRequestContext, _ env: ServiceEnvironment) async throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard let record = try await env.store.person(id: id), visible(record, to: context.identity) else {
            throw APIError(status: .notFound, code: "not_found", message: "no person `\(id)` in your caseload")
        }
        return id
    }

    static func timezone(of personID: String, _ env: ServiceEnvironment) async throws -> String {
        let record = try await env.store.person(id: personID)
        return record?.person.timezone ?? record.flatMap { env.configuration.pathways[$0.person.pathway]?.timezone } ?? env.configuration.settings.defaultTimeZone
    }

    static func jsonObject(_ request: Request) async throws -> [String: Any] {
        let body = try await request.body.collect(upTo: 64 * 1024)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw APIError(status: .badRequest, code: "invalid_json", message: "the body must be a JSON object")
        }
        return object
    }
}

/// An ISO-8601 instant, or a date taken as 09:00 in `timezone`.
func parseInstantOrDate(_ text: String, timezone: String) -> Date? {
    if let instant = ISO8601DateFormatter().date(from: text) { return instant }
    guard let date = LocalDate.parse(text), let zone = ZoneRules(identifier: timezone) else { return nil }
    return Date(timeIntervalSince1970: Double(zone.instant(day: date.dayNumber, minute: 9 * 60)))
}
