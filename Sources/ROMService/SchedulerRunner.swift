public import Foundation
import Logging
import Scheduling
public import Storage

/// Runs the pure planner over stored enrolments and performs its actions; also answers "what would happen".
public struct SchedulerRunner: Sendable {
    let env: ServiceEnvironment
    /// How long a tick's SQLite transaction stays open while nobody in the foreground waits (see `longestHold`).
    let hold: Duration
    /// How far ahead prompts are created (queued with their send time) on each tick.
    public static let lookahead: Int64 = 86_400

    public init(env: ServiceEnvironment, hold: Duration = SchedulerRunner.longestHold) {
        self.env = env
        self.hold = hold
    }

    /// One row of `rom schedule` output.
    public struct Row: Sendable, Encodable {
        public var action: String
        public var person: String
        public var instrument: String
        public var kind: String
        public var review: String
        public var reviewAt: Date
        public var sendAt: Date?
        public var reminders: [Date]
        public var closesAt: Date?
        public var at: Date
        public var reason: String?

        enum CodingKeys: String, CodingKey {
            case action, person, instrument, kind, review, reminders, reason, at
            case reviewAt = "review_at", sendAt = "send_at", closesAt = "closes_at"
        }
    }

    private func planners() -> [String: Planner] {
        var planners: [String: Planner] = [:]
        for (id, pathway) in env.configuration.pathways {
            if let zone = ZoneRules.cached(pathway.timezone) { planners[id] = Planner(pathway: pathway, zone: zone) }
        }
        return planners
    }

    private static func planner(for input: SchedulingInput, pathways: [String: Planner]) -> Planner? {
        guard let base = pathways[input.enrolment.pathwayID] else { return nil }
        guard input.enrolment.timezone != base.pathway.timezone else { return base }
        return ZoneRules.cached(input.enrolment.timezone).map { Planner(pathway: base.pathway, zone: $0) }
    }

    /// How many enrolments a tick reads, plans and writes in one step: a caller that wants the database meanwhile waits
    /// for one such step at most (see `SQLStore.schedule`).
    public static let page = 500

    /// How long a tick keeps one SQLite transaction open while only background work (the dispatcher) waits for it.
    /// Another process's writer (a `rom` command) waits up to SQLite's busy timeout, 5 s.
    public static let longestHold: Duration = .seconds(1)

    /// Plans and applies at `now` the enrolments that need it — those whose attention instant has come
    /// (`Planner.nextAttention`), or with `full` every enrolment, or one person's — a page at a time, each page's plans
    /// written with when each enrolment needs the scheduler next.
    ///
    /// A full tick is for when the configuration may have changed (the first tick of a process); the incremental one
    /// reads only what is due, so its cost follows the work to do, not the number of people.
    public func tick(now: Date, personID: String? = nil, full: Bool = false) async throws -> AppliedPlan {
        let pathways = env.configuration.pathways
        // Review records older than the longest check-in lead (and a day) cannot change: the planner looks back no further.
        let lead = pathways.values.map(\.checkIn.opens.seconds).max() ?? 0
        let planners = self.planners()
        let seconds = Int64(now.timeIntervalSince1970)
        let logger = env.logger
        let zones = pathways.mapValues(\.timezone)
        let total = try await env.store.schedule(personID: personID, recordsSince: now.addingTimeInterval(-TimeInterval(lead + 2 * 86_400)),
                                                 due: full || personID != nil ? nil : now, page: Self.page, now: now, maxHold: hold,
                                                 defaultTimezone: { zones[$0] ?? "Europe/London" }) { inputs in
            // Each enrolment's plan (if it has anything to do) and when it needs the scheduler next.
            inputs.map { input in
                guard let planner = Self.planner(for: input, pathways: planners) else {
                    logger.warning("enrolment skipped: unknown pathway or zone", metadata: ["enrolment": "\(input.enrolment.id)"])
                    // Looked at again after a gap, not at every tick.
                    return (nil, (input.enrolment.id, (seconds + Planner.longestAttentionGap) * 1000, input.attentionVersion))
                }
                let actions = planner.plan(input.enrolment, booked: input.booked, history: input.history, now: seconds, horizon: seconds + Self.lookahead)
                let reviews = planner.reviewChanges(for: input.enrolment, booked: input.booked, recorded: input.recorded, now: seconds, horizon: seconds + Self.lookahead)
                // The attention follows from the history as the actions leave it.
                var history = input.history
                history.apply(actions) { _ in "" }
                let next = planner.nextAttention(for: input.enrolment, booked: input.booked, history: history, now: seconds, lookahead: Self.lookahead)
                let plan = actions.isEmpty && reviews.isEmpty ? nil : SQLStore.EnrolmentPlan(actions: actions, reviews: reviews, input: input, pathway: planner.pathway)
                return (plan, (input.enrolment.id, next * 1000, input.attentionVersion))
            }
        }
        if total.created + total.reminded + total.expired >= SQLStore.bulkRows {
            await env.store.refreshStatistics(["enrolments", "reviews", "prompts", "outbox_messages", "outbox_prompts", "outbox_transitions", "missed_checkins"])
        }
        return total
    }

    /// What would be sent, reminded and expired between `now` and `now + days`, writing nothing.
    ///
    /// Assumes nobody answers in the meantime and every prompt is sent at its send time.
    public func dryRun(now: Date, days: Int, personID: String? = nil) async throws -> [Row] {
        let pathways = env.configuration.pathways
        let inputs = try await env.store.schedulingInputs(personID: personID) { pathways[$0]?.timezone ?? "Europe/London" }
        let planners = self.planners()
        let start = Int64(now.timeIntervalSince1970)
        let end = start + Int64(days) * 86_400
        var rows: [Row] = []
        func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: Double(seconds)) }
        for input in inputs {
            guard let planner = Self.planner(for: input, pathways: planners) else { continue }
            let person = input.enrolment.personID
            // Prompts already queued whose send time falls in the period.
            for p in input.history.prompts where p.status == .scheduled && p.sendAt >= start && p.sendAt <= end {
                rows.append(Row(action: "send", person: person, instrument: p.instrument, kind: p.kind.rawValue, review: p.review.description,
                                reviewAt: date(p.reviewAt), sendAt: date(p.sendAt), reminders: p.reminders.map(date), closesAt: date(p.closesAt),
                                at: date(p.sendAt), reason: nil))
            }
            // Step through the period a day at a time, feeding each day's results back, as the ticks would.
            var history = input.history
            var day = start
            while day <= end {
                let actions = planner.plan(input.enrolment, booked: input.booked, history: history, now: day, horizon: min(day + Self.lookahead, end))
                // Rows are written before the history moves on, so each row shows the prompt as it was.
                for action in actions {
                    switch action {
                    case .createPrompt(let p):
                        if p.sendAt <= end {
                            rows.append(Row(action: "send", person: person, instrument: p.instrument, kind: p.kind.rawValue, review: p.review.description,
                                            reviewAt: date(p.reviewAt), sendAt: date(p.sendAt), reminders: p.reminders.map(date), closesAt: date(p.closesAt),
                                            at: date(p.sendAt), reason: nil))
                        }
                    case .reschedule(let id, let reviewAt, let sendAt, let closesAt, let reminders):
                        if let p = history.prompts.first(where: { $0.id == id }) {
                            rows.append(Row(action: "reschedule", person: person, instrument: p.instrument, kind: p.kind.rawValue, review: p.review.description,
                                            reviewAt: date(reviewAt), sendAt: date(sendAt), reminders: reminders.map(date), closesAt: date(closesAt), at: date(day), reason: nil))
                        }
                    case .remind(let id, let index):
                        if let p = history.prompts.first(where: { $0.id == id }) {
                            rows.append(Row(action: "remind", person: person, instrument: p.instrument, kind: p.kind.rawValue, review: p.review.description,
                                            reviewAt: date(p.reviewAt), sendAt: date(p.sendAt), reminders: p.reminders.map(date), closesAt: date(p.closesAt),
                                            at: date(p.reminders[index]), reason: nil))
                        }
                    case .expire(let id, let reason):
                        if let p = history.prompts.first(where: { $0.id == id }) {
                            rows.append(Row(action: "expire", person: person, instrument: p.instrument, kind: p.kind.rawValue, review: p.review.description,
                                            reviewAt: date(p.reviewAt), sendAt: date(p.sendAt), reminders: p.reminders.map(date), closesAt: date(p.closesAt),
                                            at: reason == .closed ? date(p.closesAt) : date(day), reason: reason.rawValue))
                        }
                    case .recordMissed, .raiseNonResponseFlag:
                        break
                    }
                }
                history.apply(actions) { "dry:\($0.review)/\($0.instrument)/\($0.kind.rawValue)" }
                // Prompts due by the end of this step count as sent, so their reminders can fall due.
                for i in history.prompts.indices where history.prompts[i].status == .scheduled && history.prompts[i].sendAt <= day + 86_400 {
                    history.prompts[i].status = .sent
                }
                day += 86_400
            }
        }
        return rows.sorted { ($0.at, $0.person, $0.instrument) < ($1.at, $1.person, $1.instrument) }
    }
}
