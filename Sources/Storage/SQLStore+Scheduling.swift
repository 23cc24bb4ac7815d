public import Foundation
public import Scheduling
import SQLKit
import Synchronization

/// One enrolment with everything the planner needs, as loaded for a scheduler tick.
public struct SchedulingInput: Sendable {
    public var enrolment: Enrolment
    public var personTimezone: String?
    public var booked: [BookedReview]
    public var history: SchedulingHistory
    /// Channels with an address that is not suppressed.
    public var channels: Set<Channel>
    /// Planned cadence and baseline review records.
    public var recorded: [RecordedReview] = []
    /// The enrolment's attention version when read (see `attentionStatements`).
    public var attentionVersion: Int64 = 0
    /// When the enrolment needed the scheduler next, as read (milliseconds).
    public var attentionAt: Int64 = 0

    /// Where the page after this enrolment starts.
    public var cursor: SchedulingCursor { SchedulingCursor(attentionAt: attentionAt, enrolmentID: enrolment.id) }
}

/// Where the next page of a scheduler read starts: after this enrolment, in the order the read walks — attention
/// instant then id when reading what is due (the attention index, so each page is a range, not a sort of everything
/// due), id otherwise.
/// Made by the store only (`SchedulingInput.cursor`).
public struct SchedulingCursor: Sendable, Equatable {
    public var attentionAt: Int64
    public var enrolmentID: String
}

/// What applying a plan did.
public struct AppliedPlan: Sendable, Equatable {
    public var created = 0
    public var rescheduled = 0
    public var reminded = 0
    public var expired = 0
    public var missed = 0
    public var flagged = 0

    public init() {}

    public static func + (lhs: AppliedPlan, rhs: AppliedPlan) -> AppliedPlan {
        var sum = lhs
        sum.created += rhs.created
        sum.rescheduled += rhs.rescheduled
        sum.reminded += rhs.reminded
        sum.expired += rhs.expired
        sum.missed += rhs.missed
        sum.flagged += rhs.flagged
        return sum
    }
}

extension SQLStore {
    /// Loads enrolments (all, or one person's) with their bookings, prompts, missed check-ins and flags.
    /// `recordsSince` bounds the cadence and baseline review records read (the planner looks back only a check-in's
    /// lead); booked reviews are always read, as they anchor the cadence.
    ///
    /// With `due`, only enrolments whose attention instant has come by then (see `Planner.nextAttention`), in
    /// attention order; with `after` and `limit`, one page of them (see `SchedulingCursor`), the rest of the reads
    /// scoped to that page.
    public func schedulingInputs(personID: String? = nil, recordsSince: Date? = nil, due: Date? = nil, after: SchedulingCursor? = nil, limit: Int? = nil,
                                 defaultTimezone: @Sendable (String) -> String) async throws -> [SchedulingInput] {
        try await read { db in
            try await Self.schedulingInputs(db, personID: personID, recordsSince: recordsSince, due: due, after: after, limit: limit, defaultTimezone: defaultTimezone)
        }
    }

    /// `schedulingInputs(personID:recordsSince:due:after:limit:defaultTimezone:)` on a connection already held.
    static func schedulingInputs(_ db: any SQLDatabase, personID: String?, recordsSince: Date?, due: Date?, after: SchedulingCursor?, limit: Int?,
                                 defaultTimezone: (String) -> String) async throws -> [SchedulingInput] {
        try await schedulingRows(db, personID: personID, recordsSince: recordsSince, due: due, after: after, limit: limit).inputs(defaultTimezone: defaultTimezone)
    }

    /// The rows a scheduler read fetched, made into inputs by `inputs(defaultTimezone:)` — which a tick does on another
    /// thread than the connection's (see `schedule`). The rows are read whole and never change afterwards.
    struct SchedulingRows: @unchecked Sendable {
        var enrolments: [any SQLRow] = []
        var reviews: [any SQLRow] = []
        var prompts: [any SQLRow] = []
        var missed: [any SQLRow] = []
        var flags: [any SQLRow] = []
        var contacts: [any SQLRow] = []
        /// The enrolments' ids in the read's order (of `enrolments`, row for row) and their people's, decoded once
        /// for the reads that follow; and the people's ids as a set.
        var order: [String] = []
        var people: [String] = []
        var persons: [String] = []

        /// The last enrolment's place in the read's order (nil for an empty read).
        func cursor() throws -> SchedulingCursor? {
            guard let row = enrolments.last else { return nil }
            return SchedulingCursor(attentionAt: try row.decode(column: "attention_at_ms", as: Int64.self), enrolmentID: try row.decode(column: "id", as: String.self))
        }

        func inputs(defaultTimezone: (String) -> String) throws -> [SchedulingInput] {
            var inputs: [String: SchedulingInput] = [:]
            inputs.reserveCapacity(enrolments.count)
            for ((id, person), row) in zip(zip(order, people), enrolments) {
                let pathway = try row.decode(column: "pathway", as: String.self)
                let zone = try row.decode(column: "timezone", as: String?.self)
                let extras = try row.decode(column: "extra_measures", as: String.self).split(separator: ",").map(String.init)
                let enrolment = Enrolment(
                    id: id, personID: person, pathwayID: pathway,
                    startDate: LocalDate.parse(try row.decode(column: "start_date", as: String.self)) ?? LocalDate(year: 1970, month: 1, day: 1),
                    timezone: zone ?? defaultTimezone(pathway), mode: Mode(rawValue: try row.decode(column: "mode", as: String.self)) ?? .routine,
                    modeChangedAt: try row.decode(column: "mode_changed_at_ms", as: Int64?.self).map { $0 / 1000 }, extraMeasures: extras)
                inputs[id] = SchedulingInput(enrolment: enrolment, personTimezone: zone, booked: [], history: SchedulingHistory(), channels: [], recorded: [],
                                             attentionVersion: try row.decode(column: "attention_version", as: Int64.self),
                                             attentionAt: try row.decode(column: "attention_at_ms", as: Int64.self))
            }
            for row in reviews {
                let enrolmentID = try row.decode(column: "enrolment_id", as: String.self)
                let id = try row.decode(column: "id", as: String.self)
                let at = try row.decode(column: "review_at_ms", as: Int64.self) / 1000
                if try row.decode(column: "source", as: String.self) == "booked" {
                    inputs[enrolmentID]?.booked.append(BookedReview(id: id, at: at))
                } else if let key = SQLStore.reviewKey(id: id, enrolmentID: enrolmentID) {
                    inputs[enrolmentID]?.recorded.append(RecordedReview(key: key, at: at, planned: try row.decode(column: "status", as: String.self) == "planned"))
                }
            }
            for row in prompts {
                let enrolmentID = try row.decode(column: "enrolment_id", as: String.self)
                guard let review = ReviewKey(try row.decode(column: "review_id", as: String.self)) else { continue }
                let reminders = try row.decode(column: "reminders", as: String.self).split(separator: ",").compactMap { Int64($0) }.map { $0 / 1000 }
                inputs[enrolmentID]?.history.prompts.append(PromptState(
                    id: try row.decode(column: "id", as: String.self), review: review,
                    reviewAt: try row.decode(column: "review_at_ms", as: Int64.self) / 1000,
                    instrument: try row.decode(column: "instrument", as: String.self),
                    kind: PromptKind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .preReview,
                    sendAt: try row.decode(column: "send_at_ms", as: Int64.self) / 1000,
                    closesAt: try row.decode(column: "closes_at_ms", as: Int64.self) / 1000,
                    reminders: reminders, remindersSent: try row.decode(column: "reminders_sent", as: Int.self),
                    status: PromptStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .expired,
                    expiryReason: try row.decode(column: "status_reason", as: String?.self).flatMap(ExpiryReason.init(rawValue:))))
            }
            for row in missed {
                if let key = ReviewKey(try row.decode(column: "review_key", as: String.self)) {
                    inputs[try row.decode(column: "enrolment_id", as: String.self)]?.history.missed.insert(key)
                }
            }
            for row in flags {
                if let key = ReviewKey(try row.decode(column: "review_key", as: String?.self) ?? "") {
                    inputs[try row.decode(column: "enrolment_id", as: String?.self) ?? ""]?.history.nonResponseFlags.insert(key)
                }
            }
            var enrolmentsOf: [String: [String]] = [:]
            for (id, person) in zip(order, people) { enrolmentsOf[person, default: []].append(id) }
            for row in contacts {
                if let channel = Channel(rawValue: try row.decode(column: "channel", as: String.self)) {
                    for id in enrolmentsOf[try row.decode(column: "person_id", as: String.self)] ?? [] { inputs[id]?.channels.insert(channel) }
                }
            }
            return order.compactMap { inputs[$0] }
        }
    }

    /// The rows of `schedulingInputs(_:personID:recordsSince:due:after:limit:defaultTimezone:)`, read.
    static func schedulingRows(_ db: any SQLDatabase, personID: String?, recordsSince: Date?, due: Date?, after: SchedulingCursor?, limit: Int?) async throws -> SchedulingRows {
        var filter = personID.map { SQLQueryString("AND e.person_id = \(bind: $0)") } ?? SQLQueryString("")
        if let due {
            filter = filter + SQLQueryString(" AND e.attention_at_ms <= \(bind: due.millis)")
            if let after {
                filter = filter + SQLQueryString(" AND (e.attention_at_ms, e.id) > (\(bind: after.attentionAt), \(bind: after.enrolmentID))")
            }
        } else if let after {
            filter = filter + SQLQueryString(" AND e.id > \(bind: after.enrolmentID)")
        }
        let walk = SQLQueryString(due == nil ? "e.id" : "e.attention_at_ms, e.id")
        var rows = SchedulingRows()
        rows.enrolments = try await db.raw("""
            SELECT e.id, e.person_id, e.pathway, e.start_date, e.mode, e.mode_changed_at_ms, e.extra_measures, e.attention_version,
                   e.attention_at_ms, p.timezone
            FROM enrolments e JOIN people p ON p.id = e.person_id
            WHERE e.ended_at_ms IS NULL AND p.contact_erased_at_ms IS NULL \(filter)
            ORDER BY \(walk)\(SQLQueryString(limit.map { " LIMIT \($0)" } ?? ""))
            """).all()
        guard !rows.enrolments.isEmpty else { return rows }
        for row in rows.enrolments {
            rows.order.append(try row.decode(column: "id", as: String.self))
            rows.people.append(try row.decode(column: "person_id", as: String.self))
        }
        rows.persons = Array(Set(rows.people))
        // Everything else for exactly these enrolments: one person's, a page of them, or (a full read) all.
        // Each table is read by its own enrolment (or person) column, so the page's ids pick rows through that
        // table's index (a join through enrolments let SQLite walk every prompt once per page).
        let all = personID == nil && due == nil && limit == nil
        // The page's set, made once for the four reads below.
        let page = all ? nil : boundSet(db, rows.order)
        func scope(_ column: String) -> SQLQueryString { page.map { "AND \(unsafeRaw: column) IN \($0)" } ?? "" }
        // `status || ''` keeps SQLite off the status index: through it, every page walked every planned review.
        rows.reviews = try await db.raw("""
            SELECT r.id, r.enrolment_id, r.review_at_ms, r.source, r.status FROM reviews r
            WHERE ((r.source = 'booked' AND r.status || '' = 'planned') OR (r.source <> 'booked' AND r.review_at_ms >= \(bind: recordsSince?.millis ?? Int64.min))) \(scope("r.enrolment_id"))
            """).all()
        rows.prompts = try await db.raw("""
            SELECT p.id, p.enrolment_id, p.review_id, p.review_at_ms, p.instrument, p.kind, p.send_at_ms, p.closes_at_ms, p.reminders,
                   p.reminders_sent, p.status, p.status_reason
            FROM prompts p WHERE 1 = 1 \(scope("p.enrolment_id"))
            ORDER BY p.review_at_ms, p.id
            """).all()
        rows.missed = try await db.raw("SELECT m.enrolment_id, m.review_key FROM missed_checkins m WHERE 1 = 1 \(scope("m.enrolment_id"))").all()
        rows.flags = try await db.raw("""
            SELECT f.enrolment_id, f.review_key FROM flags f
            WHERE f.kind = 'recovery_gains_at_risk' \(scope("f.enrolment_id"))
            """).all()
        let contactScope: SQLQueryString = all ? "" : "AND c.person_id IN \(boundSet(db, rows.persons))"
        rows.contacts = try await db.raw("""
            SELECT c.person_id, c.channel FROM contact_points c WHERE c.address IS NOT NULL AND c.suppressed_at_ms IS NULL \(contactScope)
            """).all()
        return rows
    }

    /// One enrolment's plan, as a tick applies it.
    public struct EnrolmentPlan: Sendable {
        public var actions: [PlanAction]
        public var reviews: [ReviewChange]
        public var input: SchedulingInput
        public var pathway: Pathway

        public init(actions: [PlanAction], reviews: [ReviewChange], input: SchedulingInput, pathway: Pathway) {
            self.actions = actions
            self.reviews = reviews
            self.input = input
            self.pathway = pathway
        }
    }

    /// One page of a tick as the scheduler planned it: each enrolment's plan (nil when it has nothing to do) and when
    /// it next needs the scheduler.
    public typealias PlannedPage = [(plan: EnrolmentPlan?, attention: (enrolmentID: String, at: Int64, version: Int64))]

    /// A scheduler tick's reads and writes: the enrolments `schedulingInputs` would read (`due`, or one person's, or
    /// every one), `page` at a time; each page planned by `plan` (the pure planner, run here) and applied with its
    /// enrolments' next attention in the same step of `transactions(isolation:maxHold:_:)`.
    ///
    /// On SQLite a commit is an fsync: a first tick over 100,000 people as one commit per 500 enrolments spent a third
    /// of its database time in 200 commits, where `rom people import` of the same people makes two. Steps share a
    /// commit until a caller waits for the connection (a webhook, a page), who waits for one page's step, or until
    /// `maxHold`. A page is read and written in one transaction, so its plans are made from what it writes over.
    /// On PostgreSQL each page is read, then written in a transaction of its own. On both, the next page is decoded
    /// and planned while this one is written.
    public func schedule(personID: String?, recordsSince: Date?, due: Date?, page: Int, now: Date, maxHold: Duration = SQLStore.longestSteppedWrite,
                         defaultTimezone: @escaping @Sendable (String) -> String,
                         plan: @escaping @Sendable ([SchedulingInput]) -> PlannedPage) async throws -> AppliedPlan {
        if engine == .postgres {
            // Writers go side by side here, and a page read inside its SERIALIZABLE write made the first tick a quarter
            // slower (measured): each page is read, then written in a transaction of its own. A change that lands in
            // between is not lost: the attention write skips an enrolment whose version moved (`attentionStatements`).
            // The next page is read and planned, on another connection, while this one is written.
            @Sendable func planned(after: SchedulingCursor?) async throws -> (count: Int, last: SchedulingCursor?, prepared: PreparedPlans) {
                let inputs = try await schedulingInputs(personID: personID, recordsSince: recordsSince, due: due, after: after, limit: page,
                                                        defaultTimezone: defaultTimezone)
                return (inputs.count, inputs.last?.cursor, Self.prepare(plan(inputs), now: now))
            }
            var total = AppliedPlan()
            var next: Task<(count: Int, last: SchedulingCursor?, prepared: PreparedPlans), any Error>? = Task { try await planned(after: nil) }
            while let current = next {
                let ready = try await current.value
                guard let last = ready.last else { break }
                next = ready.count < page ? nil : Task { try await planned(after: last) }
                do {
                    if !ready.prepared.isEmpty { total = total + (try await transaction { db in try await Self.write(db, ready.prepared) }) }
                } catch {
                    _ = try? await next?.value
                    throw error
                }
            }
            return total
        }
        // Every statement runs on the connection's one thread, and so did the decoding and planning between them,
        // leaving the machine's other cores idle. So each step reads the next page and hands it to the global executor
        // to be decoded, planned and made into statements while this page is written. A page planned ahead is used
        // only if no commit came between its read and its write (a page is read and written in one transaction, so its
        // plans are made from what it writes over); after a commit it is read again. (Reading it from the global
        // executor too was slower: its statements and this page's took turns on the connection's thread.)
        let ahead = Mutex<PlannedAhead?>(nil)
        let steps = try await transactions(maxHold: maxHold) { db, done -> Step<(applied: AppliedPlan, cursor: SchedulingCursor)> in
            let rows: SchedulingRows
            let prepared: PreparedPlans
            if let planned = ahead.withLock({ value in defer { value = nil }; return value }), planned.commits == self.committedTransactions {
                rows = planned.rows
                prepared = try await planned.work.value
            } else {
                rows = try await Self.schedulingRows(db, personID: personID, recordsSince: recordsSince, due: due, after: done.last?.cursor, limit: page)
                prepared = Self.prepare(plan(try rows.inputs(defaultTimezone: defaultTimezone)), now: now)
            }
            guard let last = try rows.cursor() else { return .finished }
            var more = rows.enrolments.count == page
            if more {
                let following = try await Self.schedulingRows(db, personID: personID, recordsSince: recordsSince, due: due, after: last, limit: page)
                if following.enrolments.isEmpty {
                    more = false
                } else {
                    let commits = self.committedTransactions
                    let work = Task(executorPreference: globalConcurrentExecutor) {
                        Self.prepare(plan(try following.inputs(defaultTimezone: defaultTimezone)), now: now).serialized(for: db)
                    }
                    ahead.withLock { $0 = PlannedAhead(rows: following, commits: commits, work: work) }
                }
            }
            let applied = try await Self.write(db, prepared)
            return more ? .more((applied, last)) : .last((applied, last))
        }
        return steps.reduce(AppliedPlan()) { $0 + $1.applied }
    }

    /// A scheduler page read in one step and planned beside the next step's writes (see `schedule`).
    private struct PlannedAhead: Sendable {
        var rows: SchedulingRows
        /// `committedTransactions` when it was read.
        var commits: Int
        var work: Task<PreparedPlans, any Error>
    }

    /// Performs one enrolment's plan in one transaction (see `apply(_:now:)`).
    public func apply(_ actions: [PlanAction], reviews: [ReviewChange] = [], for input: SchedulingInput, pathway: Pathway, now: Date) async throws -> AppliedPlan {
        try await apply([EnrolmentPlan(actions: actions, reviews: reviews, input: input, pathway: pathway)], now: now)
    }

    /// Performs several enrolments' plans in one transaction: new prompts with their outbox messages, reminders,
    /// reschedules, expiries (with the outbox rows they make moot), missed check-ins and non-response flags. Each
    /// prompt and the outbox message that carries it are written together (R1); several enrolments share a commit, so a first tick over
    /// 100,000 people is hundreds of commits, not 100,000.
    ///
    /// The unique key (enrolment, review, instrument, kind) makes a repeated create a no-op.
    ///
    /// `attention` — when each enrolment next needs the scheduler, kept only where its version has not moved since it
    /// was read (see `attentionStatements`) — is written in the same transaction, after the plans: a tick's chunk of
    /// enrolments is one commit.
    public func apply(_ plans: [EnrolmentPlan], attention: [(enrolmentID: String, at: Int64, version: Int64)] = [], now: Date) async throws -> AppliedPlan {
        guard plans.contains(where: { !$0.actions.isEmpty || !$0.reviews.isEmpty }) || !attention.isEmpty else { return AppliedPlan() }
        return try await transaction { db in try await Self.apply(db, plans, attention: attention, now: now) }
    }

    /// `apply(_:attention:now:)` inside a transaction already open.
    static func apply(_ db: any SQLDatabase, _ plans: [EnrolmentPlan], attention: [(enrolmentID: String, at: Int64, version: Int64)], now: Date) async throws -> AppliedPlan {
        try await write(db, prepare(plans, attention: attention, now: now))
    }

    /// The rows `apply` writes, worked out from the plans without the database, so that a scheduler tick can do it on
    /// another thread than the connection's (see `schedule`).
    struct PreparedPlans: Sendable {
        typealias Prompt = (id: String, prompt: PlannedPrompt, channel: String, gateway: String)
        typealias Reminder = (promptID: String, index: Int, personID: String, channel: String, gateway: String, checkIn: String)
        var stamp: Int64
        /// Each enrolment's actions written one by one (reschedules, flags, cancelled reviews).
        var singles: [(input: SchedulingInput, actions: [PlanAction], cancels: [ReviewKey], channel: Channel, gateway: String)] = []
        var reviewRows: [[any Encodable & Sendable]] = []
        var prompts: [Prompt] = []
        /// The `prompts` rows, in their order.
        var promptRows: [[any Encodable & Sendable]] = []
        /// The outbox messages for `prompts`, if every one is written.
        var promptMessages: [OutboxInsert] = []
        var reminders: [Reminder] = []
        var reminderMessages: [OutboxInsert] = []
        var expiries: [(reason: ExpiryReason, promptIDs: [String])] = []
        var missed: [[any Encodable & Sendable]] = []
        var attention: [(enrolmentID: String, at: Int64, version: Int64)] = []
        /// The multi-row statements, once serialised (`serialized(for:)`).
        var statements: Statements?

        /// The multi-row statements for the rows above: reviews, prompts (100 a statement, in `prompts` order),
        /// reminder counts, missed check-ins, attention.
        struct Statements: Sendable {
            var reviews: [SerializedStatement] = []
            var prompts: [SerializedStatement] = []
            var reminders: [SerializedStatement] = []
            var missed: [SerializedStatement] = []
            var attention: [SerializedStatement] = []
        }

        static let promptsPerStatement = 100

        /// These plans with their statements serialised for `database`'s dialect.
        func serialized(for database: any SQLDatabase) -> PreparedPlans {
            var copy = self
            copy.statements = makeStatements(for: database)
            return copy
        }

        func makeStatements(for db: any SQLDatabase) -> Statements {
            if let statements { return statements }
            var made = Statements()
            made.reviews = reviewRows.chunked(150).map { chunk in
                SerializedStatement("""
                    INSERT INTO reviews (id, enrolment_id, review_at_ms, source, status, created_at_ms) VALUES \(valuesList(chunk)) ON CONFLICT (id) DO NOTHING
                    """, for: db)
            }
            made.prompts = promptRows.chunked(Self.promptsPerStatement).map { rows in
                SerializedStatement("""
                    INSERT INTO prompts (id, enrolment_id, review_id, person_id, instrument, kind, send_at_ms, closes_at_ms, reminders,
                                         status, idempotency_key, created_at_ms, review_at_ms, reminders_sent, channel)
                    VALUES \(valuesList(rows))
                    ON CONFLICT (enrolment_id, review_id, instrument, kind) DO NOTHING
                    RETURNING id
                    """, for: db)
            }
            // The prompt's count moves on (once: a repeat changes nothing).
            made.reminders = reminders.chunked(200).map { chunk in
                SerializedStatement("""
                    UPDATE prompts SET reminders_sent = v.column2 + 1 FROM (VALUES \(valuesList(chunk.map { [$0.promptID, $0.index] }))) AS v
                    WHERE prompts.id = v.column1 AND prompts.reminders_sent <= v.column2
                    """, for: db)
            }
            // A repeat is a no-op.
            made.missed = missed.chunked(200).map { chunk in
                SerializedStatement("""
                    INSERT INTO missed_checkins (enrolment_id, review_key, review_at_ms, recorded_at_ms) VALUES \(valuesList(chunk)) ON CONFLICT DO NOTHING
                    """, for: db)
            }
            made.attention = SQLStore.attentionStatements(attention, for: db)
            return made
        }

        var isEmpty: Bool { singles.isEmpty && reviewRows.isEmpty && prompts.isEmpty && reminders.isEmpty && expiries.isEmpty && missed.isEmpty && attention.isEmpty }
    }

    /// What `apply` will write for `plans`: new prompts and review records, reminders, expiries and missed check-ins in
    /// multi-row statements, the rest per enrolment.
    static func prepare(_ plans: [EnrolmentPlan], attention: [(enrolmentID: String, at: Int64, version: Int64)], now: Date) -> PreparedPlans {
        var prepared = PreparedPlans(stamp: now.millis)
        prepared.attention = attention
        let stamp = prepared.stamp
        var reviewIDs = Set<String>()
        func record(_ enrolmentID: String, _ key: ReviewKey, at: Int64) {
            let source: String
            switch key {
            case .cadence: source = "cadence"
            case .baseline: source = "baseline"
            case .booked: return
            }
            let id = Self.reviewID(enrolmentID: enrolmentID, key: key)
            if reviewIDs.insert(id).inserted { prepared.reviewRows.append([id, enrolmentID, at, source, "planned", stamp]) }
        }
        var expiries: [ExpiryReason: [String]] = [:]
        for plan in plans where !plan.actions.isEmpty || !plan.reviews.isEmpty {
            let channel = plan.pathway.channels.first { plan.input.channels.contains($0) } ?? plan.pathway.channels.first ?? .sms
            let gateway = plan.pathway.gateways[channel] ?? ""
            var cancels: [ReviewKey] = []
            for change in plan.reviews {
                switch change {
                case .plan(let review): record(plan.input.enrolment.id, review.key, at: review.at * 1000)
                case .cancel(let key): cancels.append(key)
                }
            }
            var others: [PlanAction] = []
            for action in plan.actions {
                switch action {
                case .createPrompt(let prompt): prepared.prompts.append(("pr_" + newID(), prompt, channel.rawValue, gateway))
                case .remind(let promptID, let index):
                    let state = plan.input.history.prompts.first { $0.id == promptID }
                    let checkIn = state.map { Self.checkIn(plan.input.enrolment.id, $0.review, $0.kind) } ?? promptID
                    prepared.reminders.append((promptID, index, plan.input.enrolment.personID, channel.rawValue, gateway, checkIn))
                case .expire(let promptID, let reason): expiries[reason, default: []].append(promptID)
                case .recordMissed(let review, let reviewAt): prepared.missed.append([plan.input.enrolment.id, review.description, reviewAt * 1000, stamp])
                default: others.append(action)
                }
            }
            if !others.isEmpty || !cancels.isEmpty { prepared.singles.append((plan.input, others, cancels, channel, gateway)) }
        }
        for prompt in prepared.prompts { record(prompt.prompt.enrolmentID, prompt.prompt.review, at: prompt.prompt.reviewAt * 1000) }
        prepared.promptRows = prepared.prompts.map { item in
            let p = item.prompt
            return [item.id, p.enrolmentID, p.review.description, p.personID, p.instrument, p.kind.rawValue, p.sendAt * 1000, p.closesAt * 1000,
                    p.reminders.map { String($0 * 1000) }.joined(separator: ","), "scheduled", item.id, stamp, p.reviewAt * 1000, 0, item.channel]
        }
        prepared.promptMessages = promptMessages(prepared.prompts)
        // A check-in's reminders of one number go as one message (key: its first prompt's id and the number).
        prepared.reminderMessages = Self.messages(prepared.reminders, checkIn: { "\($0.checkIn)|\($0.index)|\($0.channel)|\($0.gateway)" }) { group in
            let lead = group[0]
            return OutboxInsert(promptIDs: group.map(\.promptID), personID: lead.personID, purpose: "reminder", channel: lead.channel,
                                gateway: lead.gateway, dueAt: stamp, key: "\(lead.promptID):r\(lead.index)")
        }
        prepared.expiries = expiries.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key, $0.value) }
        return prepared
    }

    /// `prepare(_:attention:now:)` for a scheduler page as planned.
    static func prepare(_ page: PlannedPage, now: Date) -> PreparedPlans {
        prepare(page.compactMap(\.plan), attention: page.map(\.attention), now: now)
    }

    /// One message per check-in (enrolment, review, kind) sent at one time on one channel: its prompts link to it, and
    /// its key is its first prompt's id.
    private static func promptMessages(_ prompts: [PreparedPlans.Prompt]) -> [OutboxInsert] {
        Self.messages(prompts, checkIn: { "\(Self.checkIn($0.prompt.enrolmentID, $0.prompt.review, $0.prompt.kind))|\($0.prompt.sendAt)|\($0.channel)|\($0.gateway)" }) { group in
            let lead = group[0]
            return OutboxInsert(promptIDs: group.map(\.id), personID: lead.prompt.personID, purpose: "prompt", channel: lead.channel, gateway: lead.gateway,
                                dueAt: lead.prompt.sendAt * 1000, key: lead.id)
        }
    }

    /// Writes what `prepare` worked out, in the transaction open on `db`: each prompt with its outbox message (R1),
    /// reminders, reschedules, expiries (with the outbox rows they make moot), missed check-ins, non-response flags and
    /// the enrolments' next attention.
    static func write(_ db: any SQLDatabase, _ prepared: PreparedPlans) async throws -> AppliedPlan {
        guard !prepared.isEmpty else { return AppliedPlan() }
        let stamp = prepared.stamp
        var total = AppliedPlan()
        for single in prepared.singles {
            total = total + (try await Self.applyOne(db, single.actions, cancels: single.cancels, for: single.input, channel: single.channel,
                                                     gateway: single.gateway, stamp: stamp))
        }
        let statements = prepared.makeStatements(for: db)
        for statement in statements.reviews { try await db.raw("\(statement)").run() }
        // Each prompt with its outbox message in this transaction (R1); a prompt that exists already is left alone.
        var written: [PreparedPlans.Prompt] = []
        for (chunk, statement) in zip(prepared.prompts.chunked(PreparedPlans.promptsPerStatement), statements.prompts) {
            let inserted = Set(try await db.raw("\(statement)").all().map { try $0.decode(column: "id", as: String.self) })
            written += chunk.filter { inserted.contains($0.id) }
            total.created += inserted.count
        }
        for _ in written { Failpoint.hit(Failpoint.schedulePromptWritten) }
        try await Self.enqueue(db, written.count == prepared.prompts.count ? prepared.promptMessages : promptMessages(written), now: stamp)
        // Reminders: the prompt's count moves on and the reminder is queued now.
        for statement in statements.reminders { try await db.raw("\(statement)").run() }
        try await Self.enqueue(db, prepared.reminderMessages, now: stamp)
        total.reminded += prepared.reminders.count
        // Expiries, with the queued outbox rows they make moot.
        for (reason, ids) in prepared.expiries {
            let detail = "prompt \(reason.rawValue)"
            for chunk in ids.chunked(300) {
                let list = boundSet(db, chunk)
                try await db.raw("""
                    UPDATE prompts SET status = 'expired', status_reason = \(bind: reason.rawValue) WHERE id IN \(list) AND status IN ('scheduled', 'sent')
                    """).run()
                // A queued message is moot once none of its prompts is open; one with an open prompt left still goes
                // (asking only for what is open: see `DeliveryContext.openPromptIDs`).
                let moot = try await db.raw("""
                    SELECT DISTINCT o.id FROM outbox_prompts l JOIN outbox_messages o ON o.id = l.message_id
                    WHERE l.prompt_id IN \(list) AND o.status = 'queued' AND NOT EXISTS (
                        SELECT 1 FROM outbox_prompts l2 JOIN prompts p ON p.id = l2.prompt_id
                        WHERE l2.message_id = o.id AND p.status IN ('scheduled', 'sent'))
                    """).all().map { try $0.decode(column: "id", as: String.self) }
                guard !moot.isEmpty else { continue }
                try await db.raw("""
                    UPDATE outbox_messages SET status = 'expired', last_error = \(bind: detail), updated_at_ms = \(bind: stamp)
                    WHERE id IN \(boundSet(db, moot))
                    """).run()
                try await Self.transitions(db, moot.map { ($0, "queued", "expired", detail) }, now: stamp)
            }
            total.expired += ids.count
        }
        // Missed check-ins.
        for statement in statements.missed { try await db.raw("\(statement)").run() }
        total.missed += prepared.missed.count
        for statement in statements.attention { try await db.raw("\(statement)").run() }
        return total
    }

    /// Performs the actions other than new prompts and review records for one enrolment (those are written in bulk).
    private static func applyOne(_ db: any SQLDatabase, _ actions: [PlanAction], cancels: [ReviewKey], for input: SchedulingInput, channel: Channel,
                                 gateway: String, stamp: Int64) async throws -> AppliedPlan {
        do {
            var applied = AppliedPlan()
            for key in cancels {
                try await db.raw("""
                    UPDATE reviews SET status = 'cancelled' WHERE id = \(bind: Self.reviewID(enrolmentID: input.enrolment.id, key: key)) AND status = 'planned'
                    """).run()
            }
            for action in actions {
                switch action {
                case .createPrompt, .remind, .expire, .recordMissed:
                    continue   // written in bulk by apply(_:attention:now:)
                case .reschedule(let promptID, let reviewAt, let sendAt, let closesAt, let reminders):
                    try await db.raw("""
                        UPDATE prompts SET review_at_ms = \(bind: reviewAt * 1000), send_at_ms = \(bind: sendAt * 1000), closes_at_ms = \(bind: closesAt * 1000),
                               reminders = \(bind: reminders.map { String($0 * 1000) }.joined(separator: ","))
                        WHERE id = \(bind: promptID) AND status IN ('scheduled', 'sent')
                        """).run()
                    try await db.raw("""
                        UPDATE outbox_messages SET due_at_ms = \(bind: sendAt * 1000), updated_at_ms = \(bind: stamp)
                        WHERE id IN (SELECT message_id FROM outbox_prompts WHERE prompt_id = \(bind: promptID)) AND purpose = 'prompt' AND status = 'queued'
                        """).run()
                    applied.rescheduled += 1
                case .raiseNonResponseFlag(let review, let missedInARow):
                    let evidence = "{\"missed_in_a_row\":\(missedInARow),\"review\":\"\(review.description)\"}"
                    try await db.raw("""
                        INSERT INTO flags (id, person_id, kind, severity, status, evidence, raised_at_ms, enrolment_id, review_key)
                        VALUES (\(bind: "fl_" + newID()), \(bind: input.enrolment.personID), 'recovery_gains_at_risk', 'high', 'open',
                                \(bind: evidence), \(bind: stamp), \(bind: input.enrolment.id), \(bind: review.description))
                        ON CONFLICT DO NOTHING
                        """).run()
                    applied.flagged += 1
                }
            }
            return applied
        }
    }

    /// Records when each enrolment next needs the scheduler, unless a change from outside came since its inputs were
    /// read (its version moved): that enrolment stays due and the next tick plans it with the change.
    static func attentionStatements(_ items: [(enrolmentID: String, at: Int64, version: Int64)], for db: any SQLDatabase) -> [SerializedStatement] {
        items.chunked(300).map { chunk in
            SerializedStatement("""
                UPDATE enrolments SET attention_at_ms = v.column2 FROM (VALUES \(valuesList(chunk.map { [$0.enrolmentID, $0.at, $0.version] }))) AS v
                WHERE enrolments.id = v.column1 AND enrolments.attention_version = v.column3
                """, for: db)
        }
    }

    /// Makes an enrolment due at the next tick after a change the clock cannot foresee, inside the change's own
    /// transaction: `condition` over `enrolments` picks it (say, `id = …` or `person_id = …`).
    static func markForScheduler(_ db: any SQLDatabase, _ condition: SQLQueryString) async throws {
        try await db.raw("UPDATE enrolments SET attention_at_ms = 0, attention_version = attention_version + 1 WHERE \(condition)").run()
    }

    /// Books (or moves) a review for a person's current enrolment.
    public func bookReview(personID: String, reviewID: String?, at: Date, now: Date) async throws -> String {
        try await transaction { db in
            guard let enrolment = try await db.raw("SELECT id FROM enrolments WHERE person_id = \(bind: personID) AND ended_at_ms IS NULL").first()?
                .decode(column: "id", as: String.self) else { throw StoreError.notFound("no enrolment for person `\(personID)`") }
            let id = reviewID ?? "rv_" + newID()
            if reviewID != nil {
                let updated = try await db.raw("""
                    UPDATE reviews SET review_at_ms = \(bind: at.millis) WHERE id = \(bind: id) AND enrolment_id = \(bind: enrolment) AND source = 'booked' RETURNING id
                    """).first()
                if updated == nil { throw StoreError.notFound("no booked review `\(id)` for person `\(personID)`") }
            } else {
                try await db.raw("""
                    INSERT INTO reviews (id, enrolment_id, review_at_ms, source, status, created_at_ms)
                    VALUES (\(bind: id), \(bind: enrolment), \(bind: at.millis), 'booked', 'planned', \(bind: now.millis))
                    """).run()
            }
            try await Self.markForScheduler(db, "id = \(bind: enrolment)")
            return id
        }
    }

    /// Cancels a booked review; the scheduler then expires its prompts as replanned.
    public func cancelReview(personID: String, reviewID: String) async throws {
        try await transaction { db in
            let updated = try await db.raw("""
                UPDATE reviews SET status = 'cancelled' WHERE id = \(bind: reviewID) AND source = 'booked'
                AND enrolment_id IN (SELECT id FROM enrolments WHERE person_id = \(bind: personID)) RETURNING id
                """).first()
            if updated == nil { throw StoreError.notFound("no booked review `\(reviewID)` for person `\(personID)`") }
            try await Self.markForScheduler(db, "person_id = \(bind: personID) AND ended_at_ms IS NULL")
        }
    }

    /// A person's mode and when it last changed (nil before any change), or nil for nobody enrolled.
    public func modeState(personID: String) async throws -> ModeState? {
        try await read { db in try await Self.modeState(db, personID: personID) }
    }

    static func modeState(_ db: any SQLDatabase, personID: String) async throws -> ModeState? {
        try await db.raw("SELECT mode, mode_changed_at_ms FROM enrolments WHERE person_id = \(bind: personID) AND ended_at_ms IS NULL").first().map { row in
            ModeState(mode: try row.decode(column: "mode", as: String.self),
                      changedAt: try row.decode(column: "mode_changed_at_ms", as: Int64?.self).map(Date.init(millis:)))
        }
    }

    /// Switches the mode only if `condition` holds for the current state, in the same transaction (a client's
    /// If-Match): `.stale` with the current state when it does not.
    public func setMode(personID: String, mode: Mode, now: Date, if condition: @escaping @Sendable (ModeState) -> Bool) async throws -> ConditionalWrite<ModeState> {
        try await transaction { db in
            guard let current = try await Self.modeState(db, personID: personID) else { throw StoreError.notFound("no enrolment for person `\(personID)`") }
            guard condition(current) else { return .stale(current: current) }
            try await self.setMode(db, personID: personID, mode: mode, now: now)
            return .written(try await Self.modeState(db, personID: personID) ?? current)
        }
    }

    /// Switches a person between routine and step-up from `now`.
    public func setMode(personID: String, mode: Mode, now: Date) async throws {
        try await transaction { db in try await self.setMode(db, personID: personID, mode: mode, now: now) }
    }

    private func setMode(_ db: any SQLDatabase, personID: String, mode: Mode, now: Date) async throws {
        let updated = try await db.raw("""
            UPDATE enrolments SET mode = \(bind: mode.rawValue), mode_changed_at_ms = \(bind: now.millis)
            WHERE person_id = \(bind: personID) AND ended_at_ms IS NULL AND mode <> \(bind: mode.rawValue) RETURNING id
            """).first()
        if updated == nil {
            let exists = try await db.raw("SELECT id FROM enrolments WHERE person_id = \(bind: personID) AND ended_at_ms IS NULL").first()
            if exists == nil { throw StoreError.notFound("no enrolment for person `\(personID)`") }
        }
        try await Self.markForScheduler(db, "person_id = \(bind: personID) AND ended_at_ms IS NULL")
    }

    /// Counts rows, for tests and reports: prompts by status and outbox rows by status.
    public func schedulingCounts() async throws -> (prompts: [String: Int], outbox: [String: Int], flags: Int, missed: Int) {
        try await read { db in
            var prompts: [String: Int] = [:]
            for row in try await db.raw("SELECT status, COUNT(*) AS n FROM prompts GROUP BY status").all() {
                prompts[try row.decode(column: "status", as: String.self)] = try row.decode(column: "n", as: Int.self)
            }
            var outbox: [String: Int] = [:]
            for row in try await db.raw("SELECT status, COUNT(*) AS n FROM outbox_messages GROUP BY status").all() {
                outbox[try row.decode(column: "status", as: String.self)] = try row.decode(column: "n", as: Int.self)
            }
            let flags = try await db.raw("SELECT COUNT(*) AS n FROM flags WHERE kind = 'recovery_gains_at_risk'").first()?.decode(column: "n", as: Int.self) ?? 0
            let missed = try await db.raw("SELECT COUNT(*) AS n FROM missed_checkins").first()?.decode(column: "n", as: Int.self) ?? 0
            return (prompts, outbox, flags, missed)
        }
    }

    // MARK: - Outbox rows

    /// An outbox message to write, with the prompts it carries.
    struct OutboxInsert {
        var promptIDs: [String]
        var personID: String
        var purpose: String
        var channel: String
        var gateway: String
        var dueAt: Int64
        var key: String
        var payload = "{}"
    }

    /// The check-in a prompt belongs to: its enrolment, review and kind. Its prompts go out together.
    static func checkIn(_ enrolmentID: String, _ review: ReviewKey, _ kind: PromptKind) -> String {
        "\(enrolmentID)|\(review.description)|\(kind.rawValue)"
    }

    /// Items grouped into messages by `checkIn` (first-seen order, items in their order), each made an outbox message.
    static func messages<Item>(_ items: [Item], checkIn: (Item) -> String, _ make: ([Item]) -> OutboxInsert) -> [OutboxInsert] {
        var groups: [String: [Item]] = [:]
        var order: [String] = []
        for item in items {
            let key = checkIn(item)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(item)
        }
        return order.map { make(groups[$0]!) }
    }

    /// Writes outbox messages in multi-row statements, each new one with its prompt links and its `queued`
    /// transition; a message whose key exists already is left alone.
    static func enqueue(_ db: any SQLDatabase, _ rows: [OutboxInsert], now: Int64) async throws {
        for chunk in rows.chunked(100) {
            let ids = chunk.map { _ in "ob_" + newID() }
            let values: [[any Encodable & Sendable]] = zip(ids, chunk).map { id, row in
                [id, row.personID, row.purpose, row.channel, row.gateway, "queued", 0, row.dueAt, row.key, row.payload, now, now]
            }
            let inserted = Set(try await db.raw("""
                INSERT INTO outbox_messages (id, person_id, purpose, channel, gateway, status, attempt, due_at_ms, idempotency_key,
                                             payload, created_at_ms, updated_at_ms)
                VALUES \(valuesList(values))
                ON CONFLICT DO NOTHING
                RETURNING id
                """).all().map { try $0.decode(column: "id", as: String.self) })
            let written = zip(ids, chunk).filter { inserted.contains($0.0) }
            for links in written.flatMap({ id, row in row.promptIDs.map { [id, $0] as [any Encodable & Sendable] } }).chunked(400) {
                try await db.raw("INSERT INTO outbox_prompts (message_id, prompt_id) VALUES \(valuesList(links))").run()
            }
            try await transitions(db, written.map { ($0.0, nil, "queued", $0.1.purpose) }, now: now)
        }
    }

    /// Writes one outbox message that carries no prompt (an auto-reply, a team alert; see the multi-row `enqueue`).
    static func enqueue(_ db: any SQLDatabase, personID: String, purpose: String, channel: String, gateway: String,
                        dueAt: Int64, key: String, payload: String = "{}", now: Int64) async throws {
        try await enqueue(db, [OutboxInsert(promptIDs: [], personID: personID, purpose: purpose, channel: channel, gateway: gateway,
                                            dueAt: dueAt, key: key, payload: payload)], now: now)
    }

    static func transition(_ db: any SQLDatabase, messageID: String, from: String?, to: String, detail: String?, now: Int64) async throws {
        try await db.raw("""
            INSERT INTO outbox_transitions (id, message_id, from_status, to_status, detail, at_ms)
            VALUES (\(bind: "ot_" + newID()), \(bind: messageID), \(bind: from), \(bind: to), \(bind: detail), \(bind: now))
            """).run()
    }

    /// Inserts many transitions in multi-row statements: (message id, from, to, detail).
    static func transitions(_ db: any SQLDatabase, _ rows: [(String, String?, String, String?)], now: Int64) async throws {
        for chunk in stride(from: 0, to: rows.count, by: 200).map({ Array(rows[$0..<min($0 + 200, rows.count)]) }) {
            var insert = db.insert(into: "outbox_transitions").columns("id", "message_id", "from_status", "to_status", "detail", "at_ms")
            for (id, from, to, detail) in chunk {
                insert = insert.values(SQLBind("ot_" + newID()), SQLBind(id), SQLBind(from), SQLBind(to), SQLBind(detail), SQLBind(now))
            }
            try await insert.run()
        }
    }

    /// Cadence and baseline reviews are identified by their enrolment and key (`<enrolment>:c:2026-12-01`); booked
    /// ones by their own id.
    static func reviewID(enrolmentID: String, key: ReviewKey) -> String {
        if case .booked(let id) = key { return id }
        return "\(enrolmentID):\(key.description)"
    }

    static func reviewKey(id: String, enrolmentID: String) -> ReviewKey? {
        guard id.hasPrefix(enrolmentID + ":") else { return .booked(id) }
        return ReviewKey(String(id.dropFirst(enrolmentID.count + 1)))
    }
}

/// A person's mode and when it last changed.
public struct ModeState: Sendable, Equatable {
    public var mode: String
    public var changedAt: Date?

    public init(mode: String, changedAt: Date?) {
        self.mode = mode
        self.changedAt = changedAt
    }
}

/// A write made only if the state it was decided on is still current.
public enum ConditionalWrite<State: Sendable>: Sendable {
    case written(State)
    case stale(current: State)
}
