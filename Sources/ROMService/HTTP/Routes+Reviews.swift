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
            let body = try await RequestBody.decode(ReviewBooking.self, from: request)
            guard let at = parseInstantOrDate(body.at, timezone: try await timezone(of: id, env)) else {
                throw APIError(status: .unprocessableContent, code: "invalid_review",
                               message: "give `at` as an ISO-8601 instant (2026-12-10T14:00:00Z) or a date (2026-12-10, at 09:00 local)")
            }
            let reviewID: String
            do {
                reviewID = try await env.store.bookReview(personID: id, reviewID: body.id, at: at, now: env.now())
            } catch StoreError.notFound(let message) {
                throw APIError(status: .notFound, code: "not_found", message: message)
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "review.book", personID: id,
                                                 detail: reviewID, requestID: context.id))
            let applied = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(["id": reviewID, "at": ISO8601DateFormatter().string(from: at),
                                     "replanned": "created \(applied.created), rescheduled \(applied.rescheduled), expired \(applied.expired)"],
                                    status: body.id == nil ? .created : .ok)
        }
        table.add(.get, "/api/v1/people/:id/reviews", .roles([.ops, .clinician, .integration])) { request, context in
            let id = try await visiblePerson(context, env)
            let now = env.now()
            let paging = try PageRequest(request, keyLength: 2)
            // One person's reviews (tens over years): read whole, paged in time order.
            let reviews = try await env.store.reviews(personID: id).sorted { ($0.at.millis, $0.id) < ($1.at.millis, $1.id) }
            var rest = reviews[...]
            if let after = paging.after {
                let at = try PageRequest.number(after[0])
                rest = rest.drop { ($0.at.millis, $0.id) <= (at, after[1]) }
            }
            let page = paging.page(Array(rest.prefix(paging.limit + 1))) { [String($0.at.millis), $0.id] }
            try await env.store.audit(AuditEvent(at: now, actor: context.actor, action: "reviews.read", personID: id, detail: nil, requestID: context.id))
            let next = reviews.first { $0.status == "planned" && $0.kind != "baseline" && $0.at >= now }
            return try jsonResponse(ReviewsJSON(reviews: page.items.map { ReviewJSON($0, now: now) }, nextReview: next.map { ReviewJSON($0, now: now) },
                                                nextCursor: page.nextCursor))
        }
        // Held (interpretation first) or missed: by API, and from the person's page.
        for outcome in ReviewWorkflow.Outcome.allCases {
            table.add(.post, "/api/v1/people/:id/reviews/:review/\(outcome.rawValue)", .roles([.ops, .clinician])) { request, context in
                let id = try await visiblePerson(context, env)
                let body = try await RequestBody.decode(ReviewOutcomeInput.self, from: request, emptyAsObject: true)
                try await markReview(id, context.parameters.get("review") ?? "", outcome, body.interpretation ?? body.note, context, env)
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
            let body = try await RequestBody.decode(ReviewBooking.self, from: request)
            guard let at = parseInstantOrDate(body.at, timezone: try await timezone(of: id, env)) else {
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
        table.add(.get, "/api/v1/people/:id/mode", .roles([.ops, .clinician, .integration])) { _, context in
            let id = try await visiblePerson(context, env)
            guard let state = try await env.store.modeState(personID: id) else {
                throw APIError(status: .notFound, code: "not_found", message: "person `\(id)` has no current enrolment")
            }
            return try jsonResponse(ModeJSON(state)).tagged(EntityTag.of(mode: state))
        }
        table.add(.put, "/api/v1/people/:id/mode", .roles([.ops, .clinician])) { request, context in
            let id = try await visiblePerson(context, env)
            let body = try await RequestBody.decode(ModeInput.self, from: request)
            guard let mode = Mode(rawValue: body.mode) else {
                throw APIError(status: .unprocessableContent, code: "invalid_mode", message: "`mode` must be routine or step_up", details: ["mode": ["must be routine or step_up"]])
            }
            let matches = EntityTag.ifMatch(request)
            let written: ModeState
            do {
                switch try await env.store.setMode(personID: id, mode: mode, now: env.now(), if: { matches?(EntityTag.of(mode: $0)) ?? true }) {
                case .stale(let current): throw EntityTag.preconditionFailed(current: EntityTag.of(mode: current))
                case .written(let state): written = state
                }
            } catch StoreError.notFound(let message) {
                throw APIError(status: .notFound, code: "not_found", message: message)
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "mode.set", personID: id,
                                                 detail: mode.rawValue, requestID: context.id))
            let applied = try await SchedulerRunner(env: env).tick(now: env.now(), personID: id)
            return try jsonResponse(ModeJSON(written, replanned: "created \(applied.created), expired \(applied.expired)")).tagged(EntityTag.of(mode: written))
        }
    }

    struct ModeInput: Decodable {
        var mode: String
    }

    /// `GET`/`PUT /api/v1/people/{id}/mode`.
    struct ModeJSON: Encodable {
        var mode: String
        var changedAt: Date?
        var replanned: String?

        init(_ state: ModeState, replanned: String? = nil) {
            mode = state.mode
            changedAt = state.changedAt
            self.replanned = replanned
        }

        enum CodingKeys: String, CodingKey { case mode, changedAt = "changed_at", replanned }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(mode, forKey: .mode)
            try container.encode(changedAt, forKey: .changedAt)
            try container.encodeIfPresent(replanned, forKey: .replanned)
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

    struct ReviewBooking: Decodable {
        var at: String
        var id: String?
    }

    struct ReviewOutcomeInput: Decodable {
        var interpretation: String?
        var note: String?
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
    var nextCursor: String?

    enum CodingKeys: String, CodingKey { case reviews, nextReview = "next_review", nextCursor = "next_cursor" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reviews, forKey: .reviews)
        try container.encode(nextReview, forKey: .nextReview)
        try container.encode(nextCursor, forKey: .nextCursor)
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
