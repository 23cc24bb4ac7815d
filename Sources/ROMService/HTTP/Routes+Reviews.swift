import Foundation
import HTTPTypes
import Hummingbird
import Intake
import Review
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
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "review.book", personID: id,
                                                 detail: reviewID, requestID: context.id))
            let applied = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(["id": reviewID, "at": ISO8601DateFormatter().string(from: at),
                                     "replanned": "created \(applied.created), rescheduled \(applied.rescheduled), expired \(applied.expired)"],
                                    status: body["id"] == nil ? .created : .ok)
        }
        table.add(.get, "/api/v1/people/:id/reviews", .roles([.ops, .clinician, .integration])) { _, context in
            let id = try await visiblePerson(context, env)
            let now = env.now()
            let stamp = ISO8601DateFormatter()
            let reviews = try await env.store.reviews(personID: id)
            try await env.store.audit(AuditEvent(at: now, actor: context.actor, action: "reviews.read", personID: id, detail: nil, requestID: context.id))
            let next = reviews.first { $0.status == "planned" && $0.kind != "baseline" && $0.at >= now }
            return try jsonResponse(ReviewsJSON(reviews: reviews.map { ReviewJSON($0, now: now) }, nextReview: next.map { ReviewJSON($0, now: now) }))
        }
        // Held (interpretation first) or missed: by API, and from the person's page.
        for outcome in ReviewWorkflow.Outcome.allCases {
            table.add(.post, "/api/v1/people/:id/reviews/:review/\(outcome.rawValue)", .roles([.ops, .clinician])) { request, context in
                let id = try await visiblePerson(context, env)
                let body = try await jsonObject(request)
                try await markReview(id, context.parameters.get("review") ?? "", outcome, body["interpretation"] as? String ?? body["note"] as? String, context, env)
                return try jsonResponse(try await env.store.reviews(personID: id).filter { $0.id == context.parameters.get("review") }.map { ReviewJSON($0, now: env.now()) })
            }
            table.add(.post, "/clinician/people/:id/reviews/:review/\(outcome.rawValue)", .roles([.clinician]), page: true) { request, context in
                let id = try await visiblePerson(context, env)
                let form = FormFields.parse(String(buffer: try await request.body.collect(upTo: 32 * 1024)))
                do {
                    try await markReview(id, context.parameters.get("review") ?? "", outcome, form["interpretation"], context, env)
                } catch let error as APIError where error.status == .unprocessableContent {
                    return HTML.response(HTML.page(title: "Review", body: "<p class=\"error\" role=\"alert\">Not saved: \(HTML.escape(error.message)).</p><p><a href=\"/clinician/people/\(HTML.escape(id))\">Back</a></p>", signedIn: true),
                                         status: .unprocessableContent)
                }
                return Response.redirect(to: "/clinician/people/\(id)", type: .normal)
            }
        }
        // Rescheduling is a booking at the new time: a booked review moves, a cadence review is replaced by the
        // booking (the cadence continues from it).
        table.add(.post, "/api/v1/people/:id/reviews/:review/reschedule", .roles([.ops, .clinician, .integration])) { request, context in
            let id = try await visiblePerson(context, env)
            let review = context.parameters.get("review") ?? ""
            guard let current = try await env.store.reviews(personID: id).first(where: { $0.id == review }), current.status == "planned", current.kind != "baseline" else {
                throw APIError(status: .notFound, code: "not_found", message: "no planned review `\(review)` for this person")
            }
            let body = try await jsonObject(request)
            guard let text = body["at"] as? String, let at = parseInstantOrDate(text, timezone: try await timezone(of: id, env)) else {
                throw APIError(status: .unprocessableContent, code: "invalid_review", message: "give the new `at` as an instant or a date")
            }
            let booked = try await env.store.bookReview(personID: id, reviewID: current.kind == "booked" ? review : nil, at: at, now: env.now())
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "review.reschedule", personID: id,
                                                 detail: "\(review) → \(booked)", requestID: context.id))
            _ = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(["id": booked, "at": ISO8601DateFormatter().string(from: at), "replaces": review])
        }
        table.add(.delete, "/api/v1/people/:id/reviews/:review", .roles([.ops, .clinician, .integration])) { _, context in
            let id = try await visiblePerson(context, env)
            let review = context.parameters.get("review") ?? ""
            do {
                try await env.store.cancelReview(personID: id, reviewID: review)
            } catch let error as StoreError {
                throw APIError(status: .notFound, code: "not_found", message: error.description)
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "review.cancel", personID: id,
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
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "mode.set", personID: id,
                                                 detail: mode.rawValue, requestID: context.id))
            let applied = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(["mode": mode.rawValue, "replanned": "created \(applied.created), expired \(applied.expired)"])
        }
    }

    /// The person in the path, if the caller may see them; 404 otherwise.
    static func markReview(_ personID: String, _ reviewID: String, _ outcome: ReviewWorkflow.Outcome, _ text: String?, _ context: ROMRequestContext,
                           _ env: ServiceEnvironment) async throws {
        let now = env.now()
        guard let review = try await env.store.reviews(personID: personID).first(where: { $0.id == reviewID }) else {
            throw APIError(status: .notFound, code: "not_found", message: "no review `\(reviewID)` for this person")
        }
        if let problem = ReviewWorkflow.problem(kind: review.kind, status: review.status, at: review.at, marking: outcome, interpretation: text, now: now) {
            throw APIError(status: .unprocessableContent, code: "review_\(outcome.rawValue)_refused", message: problem)
        }
        let note = text?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard try await env.store.markReview(personID: personID, reviewID: reviewID, status: outcome.rawValue,
                                             interpretation: note?.isEmpty == false ? note : nil, by: context.actor, now: now) else {
            throw APIError(status: .conflict, code: "review_changed", message: "the review changed meanwhile; reload it")
        }
    }

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

/// `GET /api/v1/people/{id}/reviews`: every review with its kind and status, and the next one.
struct ReviewsJSON: Encodable {
    var reviews: [ReviewJSON]
    var nextReview: ReviewJSON?

    enum CodingKeys: String, CodingKey { case reviews, nextReview = "next_review" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reviews, forKey: .reviews)
        try container.encode(nextReview, forKey: .nextReview)
    }
}

struct ReviewJSON: Encodable {
    var id: String
    var at: Date
    var kind: String
    var status: String
    var statusAt: Date?
    var statusBy: String?
    var interpretation: String?
    var overdue: Bool

    init(_ review: ReviewRecord, now: Date) {
        id = review.id
        at = review.at
        kind = review.kind
        status = review.status
        statusAt = review.statusAt
        statusBy = review.statusBy
        interpretation = review.interpretation
        overdue = review.isOverdue(now: now)
    }

    enum CodingKeys: String, CodingKey { case id, at, kind, status, statusAt = "status_at", statusBy = "status_by", interpretation, overdue }
}
