public import Foundation
public import SQLKit
import Synchronization

/// A claimed outbox row: one message (a person's due prompts of one check-in go out as one message).
public struct ClaimedMessage: Sendable, Equatable {
    /// The outbox row; its key is the message's idempotency key.
    public var id: String
    /// The prompts the message carries (none for a message that is not a prompt).
    public var promptIDs: [String]
    public var personID: String
    public var purpose: String
    public var channel: String
    public var gateway: String
    /// Attempt number of this send (1 for the first).
    public var attempt: Int
    public var idempotencyKey: String
    /// Fencing token: only this lease may record the outcome.
    public var leaseToken: String
    public var leaseUntil: Date
    /// When the message was first claimed; the same on every retry (an email's `Date`).
    public var firstAttemptAt: Date = .distantPast
    /// The decided content of a message that is not a prompt (`DirectMessage` JSON); `{}` for prompts.
    public var payload: String = "{}"
}

/// What the dispatcher needs to know just before a send, read fresh.
public struct DeliveryContext: Sendable, Equatable {
    public var givenName: String
    public var pathway: String
    /// The person's own time zone; nil means the pathway's.
    public var timezone: String?
    /// The address for the claimed channel; nil when there is none or it is suppressed.
    public var address: String?
    public var contactErased: Bool
    public var optedOut: Bool
    /// The latest closing time of the message's prompts; nil for messages without prompts.
    public var closesAt: Date?
    /// True when every prompt of the message is already answered or expired.
    public var promptsClosed: Bool
    /// The message's prompts still open (scheduled or sent), in the message's order: what it asks for now.
    public var openPromptIDs: [String] = []
    /// Messages accepted for this person in the last 24 hours (a multi-prompt message counts once), plus those other
    /// live claims are sending now.
    public var sentToday: Int
    /// How many of `sentToday` other live claims are sending now (their outcome is known within a lease).
    public var inFlightElsewhere: Int = 0
    /// When the oldest message counted as sent leaves the 24-hour window, freeing a place under the cap.
    public var oldestSentAt: Date?
    /// Channels with an address and no opt-out, for falling back.
    public var usableChannels: Set<String>
}

/// How one attempt ended.
public enum SendResult: Sendable, Equatable {
    case accepted(providerMessageID: String?)
    /// Try again at `retryAt` (a transient failure, or the daily cap).
    case retry(at: Date, reason: String, countsAsAttempt: Bool)
    /// Give up on this channel: a permanent failure, retries exhausted, opt-out or erasure.
    case failed(reason: String)
    /// Its prompts closed or were answered first: never sent late.
    case expired(reason: String)
}

extension SQLStore {
    /// Claims due messages (queued and due, or sending with an expired lease): commits attempt+1, a lease token and
    /// lease expiry before any network call. Each outbox row is one message; its prompts come from `outbox_prompts`.
    ///
    /// Claims `step` rows at a time (all of `limit` at once when nil), each step with a lease token of its own, in as
    /// few commits as `transactions(isolation:_:)` allows.
    public func claimDue(now: Date, limit: Int, lease: TimeInterval, step: Int? = nil) async throws -> [ClaimedMessage] {
        let stamp = now.millis
        let until = now.addingTimeInterval(lease)
        let size = max(1, min(step ?? limit, limit))
        let skipLocked = skipLocked
        let personClaimed = personClaimed
        // Rows come back undecoded: decoding happens after the commit, outside SQLite's one writer lock.
        let steps = try await transactions(isolation: .readCommitted) { db, done -> Step<ClaimStep> in
            let left = limit - done.reduce(0) { $0 + $1.ids.count }
            guard left > 0 else { return .finished }
            let claim = try await Self.claimStep(db, limit: min(size, left), stamp: stamp, until: until, skipLocked: skipLocked, personClaimed: personClaimed)
            if claim.ids.isEmpty { return .finished }
            return claim.ids.count < min(size, left) || claim.ids.count == left ? .last(claim) : .more(claim)
        }
        var claims: [ClaimedMessage] = []
        for claim in steps {
            claims += try Self.decodeClaims(claim, until: until)
        }
        return claims
    }

    /// One step of a claim: the ids taken, in claim order, their rows and their prompt links, undecoded.
    struct ClaimStep: Sendable {
        var token: String
        var ids: [String]
        var claimed: [any SQLRow]
        var links: [any SQLRow]
    }

    private static func claimStep(_ db: any SQLDatabase, limit: Int, stamp: Int64, until: Date, skipLocked: SQLQueryString,
                                  personClaimed: SQLQueryString) async throws -> ClaimStep {
        // Walk the claim index (due_at_ms, person_id over queued rows) in order, taking each row's person for this
        // transaction (see `personClaimed`).
        var ids = try await db.raw("""
            SELECT id FROM outbox_messages WHERE status = 'queued' AND due_at_ms <= \(bind: stamp) AND \(personClaimed)
            ORDER BY due_at_ms, person_id LIMIT \(literal: limit)\(skipLocked)
            """).all().map { try $0.decode(column: "id", as: String.self) }
        // Rows whose claim expired (their dispatcher died mid-send).
        var stale: [String] = []
        if ids.count < limit {
            stale = try await db.raw("""
                SELECT id FROM outbox_messages WHERE status = 'sending' AND lease_until_ms < \(bind: stamp) AND \(personClaimed)
                ORDER BY lease_until_ms LIMIT \(literal: limit - ids.count)\(skipLocked)
                """).all().map { try $0.decode(column: "id", as: String.self) }
            ids += stale
        }
        // One lease token for the batch: it fences every row this claim takes (a later claim gets a new one).
        let token = "ls_" + newID()
        guard !ids.isEmpty else { return ClaimStep(token: token, ids: [], claimed: [], links: []) }
        var claimed: [any SQLRow] = []
        var links: [any SQLRow] = []
        for chunk in ids.chunked(500) {
            let list = boundSet(db, chunk)
            claimed += try await db.raw("""
                UPDATE outbox_messages SET status = 'sending', attempt = attempt + 1, lease_token = \(bind: token),
                       lease_until_ms = \(bind: until.millis), updated_at_ms = \(bind: stamp),
                       first_attempt_at_ms = COALESCE(first_attempt_at_ms, \(bind: stamp))
                WHERE id IN \(list)
                RETURNING id, person_id, purpose, channel, gateway, attempt, idempotency_key, payload, first_attempt_at_ms
                """).all()
            links += try await db.raw("SELECT message_id, prompt_id FROM outbox_prompts WHERE message_id IN \(list) ORDER BY message_id, prompt_id").all()
            // Each claimed row's transition, written by the database from the row itself (its id: this claim's lease
            // and the message, unique and in time order like `newID`'s).
            let from: SQLQueryString = stale.isEmpty ? "'queued'" : "CASE WHEN id IN \(boundSet(db, stale)) THEN 'sending' ELSE 'queued' END"
            try await db.raw("""
                INSERT INTO outbox_transitions (id, message_id, from_status, to_status, detail, at_ms)
                SELECT \(bind: "ot_" + token.dropFirst(3) + ".") || id, id, \(from), 'sending', 'attempt ' || attempt, \(bind: stamp)
                FROM outbox_messages WHERE id IN \(list) AND lease_token = \(bind: token)
                """).run()
        }
        return ClaimStep(token: token, ids: ids, claimed: claimed, links: links)
    }

    private static func decodeClaims(_ step: ClaimStep, until: Date) throws -> [ClaimedMessage] {
        let token = step.token
        var claimed: [String: ClaimedMessage] = [:]
        for row in step.claimed {
            let id = try row.decode(column: "id", as: String.self)
            claimed[id] = ClaimedMessage(id: id, promptIDs: [], personID: try row.decode(column: "person_id", as: String.self),
                                         purpose: try row.decode(column: "purpose", as: String.self),
                                         channel: try row.decode(column: "channel", as: String.self),
                                         gateway: try row.decode(column: "gateway", as: String.self),
                                         attempt: try row.decode(column: "attempt", as: Int.self),
                                         idempotencyKey: try row.decode(column: "idempotency_key", as: String.self),
                                         leaseToken: token, leaseUntil: until,
                                         firstAttemptAt: Date(millis: try row.decode(column: "first_attempt_at_ms", as: Int64.self)),
                                         payload: try row.decode(column: "payload", as: String.self))
        }
        for row in step.links {
            claimed[try row.decode(column: "message_id", as: String.self)]?.promptIDs.append(try row.decode(column: "prompt_id", as: String.self))
        }
        return step.ids.compactMap { claimed[$0] }
    }

    /// Fresh facts for a batch of claims, read a hundred claims at a time: each read holds SQLite's one connection,
    /// and a webhook waiting for it waits for one read, not the batch's (R39). A person's facts come from one read.
    public func deliveryContexts(for claims: [ClaimedMessage], now: Date) async throws -> [DeliveryContext?] {
        guard !claims.isEmpty else { return [] }
        let ownLeases = Array(Set(claims.map(\.leaseToken)))
        // Claims grouped so that each person's are in one read.
        var byPerson: [String: [Int]] = [:]
        for (index, claim) in claims.enumerated() { byPerson[claim.personID, default: []].append(index) }
        var groups: [[Int]] = [[]]
        for indexes in byPerson.values.sorted(by: { $0[0] < $1[0] }) {
            if groups[groups.count - 1].count >= Self.claimsPerContextRead { groups.append([]) }
            groups[groups.count - 1] += indexes
        }
        var contexts = [DeliveryContext?](repeating: nil, count: claims.count)
        for group in groups where !group.isEmpty {
            let part = group.map { claims[$0] }
            let found = try await read { db in try await Self.deliveryContexts(db, for: part, ownLeases: ownLeases, now: now) }
            for (index, context) in zip(group, found) { contexts[index] = context }
        }
        return contexts
    }

    /// About how many claims one read of `deliveryContexts` covers (a person's claims are never split, so a read
    /// names at most this many people).
    static let claimsPerContextRead = 100

    private static func deliveryContexts(_ db: any SQLDatabase, for claims: [ClaimedMessage], ownLeases: [String], now: Date) async throws -> [DeliveryContext?] {
        let people = Array(Set(claims.map(\.personID)))
        var names: [String: (name: String, erased: Bool, pathway: String, zone: String?)] = [:]
        var addresses: [String: [String: String]] = [:]
        var consent: [String: [String: String]] = [:]
        var sent: [String: Int] = [:]
        var inFlight: [String: Int] = [:]
        var oldest: [String: Int64] = [:]
        var prompts: [String: (status: String, closes: Int64)] = [:]
        // At most `claimsPerContextRead` people: one list for each statement.
        let list = boundSet(db, people)
        for row in try await db.raw("""
            SELECT p.id, p.given_name, p.contact_erased_at_ms, p.timezone, e.pathway FROM people p JOIN enrolments e ON e.person_id = p.id
            WHERE p.id IN \(list) ORDER BY e.created_at_ms
            """).all() {
            names[try row.decode(column: "id", as: String.self)] = (try row.decode(column: "given_name", as: String.self),
                                                                   try row.decode(column: "contact_erased_at_ms", as: Int64?.self) != nil,
                                                                   try row.decode(column: "pathway", as: String.self),
                                                                   try row.decode(column: "timezone", as: String?.self))
        }
        for row in try await db.raw("SELECT person_id, channel, address FROM contact_points WHERE address IS NOT NULL AND suppressed_at_ms IS NULL AND person_id IN \(list)").all() {
            addresses[try row.decode(column: "person_id", as: String.self), default: [:]][try row.decode(column: "channel", as: String.self)] =
                try row.decode(column: "address", as: String.self)
        }
        // Rows come oldest first, so the last one per channel is the latest word.
        for row in try await db.raw("SELECT person_id, channel, status FROM consents WHERE person_id IN \(list) ORDER BY recorded_at_ms, id").all() {
            consent[try row.decode(column: "person_id", as: String.self), default: [:]][try row.decode(column: "channel", as: String.self)] =
                try row.decode(column: "status", as: String.self)
        }
        // Messages other claims hold right now (another pass, another process) count as sent: whichever of two
        // claims reads second sees the other, so the cap holds while passes overlap. Read before the sent
        // count: a message recorded between the two reads is then counted twice (held back: the safe side),
        // never missed — read after, it was missed on PostgreSQL, whose statements each see their own moment,
        // and a person got one message over the daily cap.
        for row in try await db.raw("""
            SELECT person_id, COUNT(*) AS n FROM outbox_messages
            WHERE status = 'sending' AND lease_until_ms >= \(bind: now.millis) AND purpose NOT IN ('team_alert', 'escalation')
              AND lease_token NOT IN \(boundSet(db, ownLeases)) AND person_id IN \(list) GROUP BY person_id
            """).all() {
            let person = try row.decode(column: "person_id", as: String.self)
            inFlight[person] = try row.decode(column: "n", as: Int.self)
        }
        for row in try await db.raw("""
            SELECT person_id, COUNT(DISTINCT COALESCE(provider_message_id, id)) AS n, MIN(updated_at_ms) AS oldest FROM outbox_messages
            WHERE status IN ('accepted', 'delivered') AND purpose NOT IN ('team_alert', 'escalation') AND updated_at_ms > \(bind: now.millis - 86_400_000) AND person_id IN \(list) GROUP BY person_id
            """).all() {
            let person = try row.decode(column: "person_id", as: String.self)
            sent[person] = try row.decode(column: "n", as: Int.self)
            oldest[person] = try row.decode(column: "oldest", as: Int64.self)
        }
        for (person, count) in inFlight { sent[person, default: 0] += count }
        for chunk in Array(Set(claims.flatMap(\.promptIDs))).chunked(400) {
            for row in try await db.raw("SELECT id, status, closes_at_ms FROM prompts WHERE id IN \(boundSet(db, chunk))").all() {
                prompts[try row.decode(column: "id", as: String.self)] = (try row.decode(column: "status", as: String.self),
                                                                         try row.decode(column: "closes_at_ms", as: Int64.self))
            }
        }
        return claims.map { claim -> DeliveryContext? in
            guard let person = names[claim.personID] else { return nil }
            let optedOut = { (channel: String) in consent[claim.personID]?[channel] == "opted_out" }
            let usable = Set((addresses[claim.personID] ?? [:]).keys.filter { !optedOut($0) })
            let states = claim.promptIDs.compactMap { prompts[$0] }
            let closes = states.map(\.closes).max().map(Date.init(millis:))
            let openIDs = claim.promptIDs.filter { prompts[$0].map { $0.status == "scheduled" || $0.status == "sent" } ?? false }
            return DeliveryContext(givenName: person.name, pathway: person.pathway, timezone: person.zone, address: addresses[claim.personID]?[claim.channel],
                                   contactErased: person.erased, optedOut: optedOut(claim.channel), closesAt: closes,
                                   promptsClosed: !claim.promptIDs.isEmpty && openIDs.isEmpty, openPromptIDs: openIDs, sentToday: sent[claim.personID] ?? 0,
                                   inFlightElsewhere: inFlight[claim.personID] ?? 0, oldestSentAt: oldest[claim.personID].map(Date.init(millis:)),
                                   usableChannels: usable)
        }
    }

    /// Rows due now and still queued, and the due time of the oldest: a growing backlog or an old oldest means the
    /// dispatcher is not keeping up or not running (read through the claim index).
    public func outboxBacklog(now: Date) async throws -> (rows: Int, oldestDue: Date?) {
        try await read { db in
            let row = try await db.raw("""
                SELECT COUNT(*) AS n, MIN(due_at_ms) AS oldest FROM outbox_messages WHERE status = 'queued' AND due_at_ms <= \(bind: now.millis)
                """).first()
            return (try row?.decode(column: "n", as: Int.self) ?? 0, try row?.decode(column: "oldest", as: Int64?.self).map(Date.init(millis:)))
        }
    }

    /// Records a batch of outcomes, in one transaction unless `stepRows` is given; returns, per claim, whether its lease
    /// held. With `stepRows`, in steps of about that many rows written (a message's row and one per prompt it carries), in
    /// as few commits as `transactions(isolation:_:)` allows.
    public func record(_ outcomes: [(SendResult, ClaimedMessage)], now: Date, stepRows: Int? = nil) async throws -> [Bool] {
        guard !outcomes.isEmpty else { return [] }
        let stamp = now.millis
        var slices: [ArraySlice<(SendResult, ClaimedMessage)>] = []
        var start = 0
        while start < outcomes.count {
            var end = start
            var rows = 0
            while end < outcomes.count && (end == start || rows + 1 + outcomes[end].1.promptIDs.count <= stepRows ?? Int.max) {
                rows += 1 + outcomes[end].1.promptIDs.count
                end += 1
            }
            slices.append(outcomes[start..<end])
            start = end
        }
        let forUpdate = forUpdate
        let steps = slices
        let held = try await transactions(isolation: .readCommitted) { db, done -> Step<[Bool]> in
            let held = try await Self.recordStep(db, steps[done.count], stamp: stamp, forUpdate: forUpdate)
            return done.count + 1 < steps.count ? .more(held) : .last(held)
        }
        return held.flatMap { $0 }
    }

    private static func recordStep(_ db: any SQLDatabase, _ outcomes: ArraySlice<(SendResult, ClaimedMessage)>, stamp: Int64,
                                   forUpdate: SQLQueryString) async throws -> [Bool] {
        // Which messages each claim still holds: same lease token, still sending. Locked on PostgreSQL, so a claim
        // taking over an expired lease waits for this outcome and then sees it.
        var tokens: [String: String] = [:]
        for chunk in outcomes.map(\.1.id).chunked(500) {
            for row in try await db.raw("SELECT id, lease_token FROM outbox_messages WHERE status = 'sending' AND id IN \(boundSet(db, chunk))\(forUpdate)").all() {
                tokens[try row.decode(column: "id", as: String.self)] = try row.decode(column: "lease_token", as: String?.self)
            }
        }
        var held: [Bool] = []
        var transitions: [(String, String?, String, String?)] = []
        var sentPrompts: [String] = []
        var failedPrompts: [String] = []
        // (id, status, provider id, error, due, attempt refund) for every message still held.
        var updates: [(String, String, String?, String?, Int64?, Int)] = []
        for (result, claim) in outcomes {
            let id = claim.id
            let owned = tokens[id] == claim.leaseToken
            held.append(owned)
            guard owned else { continue }
            switch result {
            case .accepted(let providerID):
                updates.append((id, "accepted", providerID, nil, nil, 0))
                transitions.append((id, "sending", "accepted", providerID))
            case .retry(let at, let reason, let counts):
                updates.append((id, "queued", nil, reason, at.millis, counts ? 0 : 1))
                transitions.append((id, "sending", "queued", "retry: \(reason)"))
            case .failed(let reason):
                updates.append((id, "failed", nil, reason, nil, 0))
                transitions.append((id, "sending", "failed", reason))
            case .expired(let reason):
                updates.append((id, "expired", nil, reason, nil, 0))
                transitions.append((id, "sending", "expired", reason))
            }
            if case .accepted = result { sentPrompts += claim.promptIDs }
            if case .failed = result { failedPrompts += claim.promptIDs }
        }
        for chunk in updates.chunked(150) {
            let values = valuesList(chunk.map { [$0.0, $0.1, $0.2, $0.3, $0.4, $0.5] })
            // Statuses set per row from a VALUES list: one statement for the chunk, fenced by status = 'sending'.
            try await db.raw("""
                UPDATE outbox_messages SET status = v.column2,
                       provider_message_id = CASE WHEN v.column2 = 'accepted' THEN v.column3 ELSE provider_message_id END,
                       last_error = v.column4, due_at_ms = COALESCE(v.column5, due_at_ms), attempt = attempt - v.column6,
                       lease_token = NULL, lease_until_ms = NULL, updated_at_ms = \(bind: stamp)
                FROM (VALUES \(values)) AS v
                WHERE outbox_messages.id = v.column1 AND outbox_messages.status = 'sending'
                """).run()
        }
        // prompts.delivery only rises here (accepted beats unknown and failed; failed fills only a blank), so a
        // plain update does what a recompute would; receipts, which can lower it, recompute.
        for chunk in sentPrompts.chunked(500) {
            try await db.raw("""
                UPDATE prompts SET status = CASE WHEN status = 'scheduled' THEN 'sent' ELSE status END,
                       delivery = CASE WHEN delivery = 'delivered' THEN delivery ELSE 'accepted' END
                WHERE id IN \(boundSet(db, chunk))
                """).run()
        }
        for chunk in failedPrompts.chunked(500) {
            try await db.raw("UPDATE prompts SET delivery = 'failed' WHERE delivery IS NULL AND id IN \(boundSet(db, chunk))").run()
        }
        try await Self.transitions(db, transitions, now: stamp)
        return held
    }

    /// Why a message to the person on `channel` must not go now — an opt-out or an erasure committed since the batch
    /// was read — or nil. Read per message just before its send, so a STOP that lands mid-batch stops every later send
    /// (R22). One indexed read: the latest consent for the channel and the person's erasure.
    public func suppression(personID: String, channel: String) async throws -> String? {
        try await read { db in
            let row = try await db.raw("""
                SELECT (SELECT status FROM consents WHERE person_id = \(bind: personID) AND channel = \(bind: channel)
                        ORDER BY recorded_at_ms DESC, id DESC LIMIT 1) AS consent,
                       (SELECT contact_erased_at_ms FROM people WHERE id = \(bind: personID)) AS erased
                """).first()
            if try row?.decode(column: "erased", as: Int64?.self) != nil { return "contact erased" }
            if try row?.decode(column: "consent", as: String?.self) == "opted_out" { return "opted out of \(channel)" }
            return nil
        }
    }

    /// Stores check-in and unsubscribe token hashes for a batch in one transaction, before any of them is sent.
    public func storeLinkTokens(checkin: [(hash: String, personID: String, expiresAt: Date)], unsubscribe: [(hash: String, personID: String, channel: String)],
                                reply: [(hash: String, personID: String, expiresAt: Date, promptIDs: [String])] = [], now: Date) async throws {
        guard !checkin.isEmpty || !unsubscribe.isEmpty || !reply.isEmpty else { return }
        let stamp = now.millis
        try await transaction { db in
            let tokens = checkin.map { (hash: $0.hash, personID: $0.personID, expiresAt: $0.expiresAt, purpose: "form", prompts: String?.none) }
                + reply.map { (hash: $0.hash, personID: $0.personID, expiresAt: $0.expiresAt, purpose: "reply", prompts: Optional($0.promptIDs.joined(separator: ","))) }
            for chunk in tokens.chunked(200) {
                let values = valuesList(chunk.map { [$0.hash, $0.personID, stamp, $0.expiresAt.millis, $0.purpose, $0.prompts] })
                try await db.raw("""
                    INSERT INTO checkin_tokens (token_hash, person_id, created_at_ms, expires_at_ms, purpose, message_prompts) VALUES \(values)
                    ON CONFLICT (token_hash) DO UPDATE SET expires_at_ms = \(greatest)(checkin_tokens.expires_at_ms, excluded.expires_at_ms)
                    """).run()
            }
            for chunk in unsubscribe.chunked(200) {
                var insert = db.insert(into: "unsubscribe_tokens").columns("token_hash", "person_id", "channel", "created_at_ms")
                for token in chunk { insert = insert.values(SQLBind(token.hash), SQLBind(token.personID), SQLBind(token.channel), SQLBind(stamp)) }
                try await insert.ignoringConflicts(with: ["token_hash"]).run()
            }
        }
    }

    /// Queues the same prompts on another channel after a permanent failure on this one.
    public func fallBack(_ claim: ClaimedMessage, to channel: String, gateway: String, now: Date) async throws {
        let stamp = now.millis
        try await transaction { db in
            try await Self.enqueue(db, [OutboxInsert(promptIDs: claim.promptIDs, personID: claim.personID, purpose: claim.purpose, channel: channel,
                                                     gateway: gateway, dueAt: stamp, key: "\(claim.idempotencyKey)@\(channel)")], now: stamp)
        }
    }

    /// Applies a provider's delivery receipt: statuses only move forward (accepted → delivered | failed).
    @discardableResult
    public func applyReceipt(gateway: String, providerMessageID: String, status: String, detail: String?, now: Date) async throws -> Int {
        guard status == "delivered" || status == "failed" || status == "accepted" else { return 0 }
        let stamp = now.millis
        return try await transaction { db in
            let rows = try await db.raw("""
                SELECT id, status FROM outbox_messages WHERE gateway = \(bind: gateway) AND provider_message_id = \(bind: providerMessageID)
                """).all()
            var changed = 0
            for row in rows {
                let current = try row.decode(column: "status", as: String.self)
                let id = try row.decode(column: "id", as: String.self)
                // Only accepted (or unknown: no receipt in time) moves on; delivered and failed are final, so late or
                // repeated receipts change nothing.
                guard current == "accepted" || current == "unknown" || (current == "sending" && status != "accepted"), status != "accepted" else { continue }
                try await db.raw("UPDATE outbox_messages SET status = \(bind: status), last_error = \(bind: detail), updated_at_ms = \(bind: stamp) WHERE id = \(bind: id)").run()
                try await Self.transition(db, messageID: id, from: current, to: status, detail: detail ?? "receipt", now: stamp)
                changed += 1
            }
            if changed > 0 {
                try await Self.refreshDelivery(db, promptIDs: try await db.raw("""
                    SELECT l.prompt_id FROM outbox_messages o JOIN outbox_prompts l ON l.message_id = o.id
                    WHERE o.gateway = \(bind: gateway) AND o.provider_message_id = \(bind: providerMessageID)
                    """).all().map { try $0.decode(column: "prompt_id", as: String.self) })
            }
            return changed
        }
    }

    /// Accepted messages on `gateways` (those that send delivery receipts) with no receipt since `acceptedBefore`
    /// become `unknown` (R18): neither delivered nor failed, shown as such in completeness. A late receipt still
    /// moves them on. Returns how many changed.
    @discardableResult
    public func markUndelivered(gateways: [String], acceptedBefore: Date, now: Date) async throws -> Int {
        guard !gateways.isEmpty else { return 0 }
        let stamp = now.millis
        return try await transaction { db in
            let ids = try await db.raw("""
                SELECT id FROM outbox_messages WHERE status = 'accepted' AND gateway IN \(boundSet(db, gateways))
                AND updated_at_ms < \(bind: acceptedBefore.millis) LIMIT 5000
                """).all().map { try $0.decode(column: "id", as: String.self) }
            for chunk in ids.chunked(500) {
                try await db.raw("UPDATE outbox_messages SET status = 'unknown', updated_at_ms = \(bind: stamp) WHERE status = 'accepted' AND id IN \(boundSet(db, chunk))").run()
            }
            try await Self.transitions(db, ids.map { ($0, "accepted", "unknown", "no delivery receipt in time") }, now: stamp)
            for chunk in ids.chunked(500) {
                try await Self.refreshDelivery(db, promptIDs: try await db.raw("""
                    SELECT prompt_id FROM outbox_prompts WHERE message_id IN \(boundSet(db, chunk))
                    """).all().map { try $0.decode(column: "prompt_id", as: String.self) })
            }
            return ids.count
        }
    }

    /// Recomputes `prompts.delivery` — the furthest current status of the prompt's messages — for `promptIDs`.
    static func refreshDelivery(_ db: any SQLDatabase, promptIDs: [String]) async throws {
        for chunk in Array(Set(promptIDs)).chunked(500) {
            try await db.raw("""
                UPDATE prompts SET delivery = (SELECT o.status FROM outbox_prompts l JOIN outbox_messages o ON o.id = l.message_id
                    WHERE l.prompt_id = prompts.id AND o.status IN ('accepted', 'delivered', 'unknown', 'failed')
                    ORDER BY CASE o.status WHEN 'delivered' THEN 0 WHEN 'accepted' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END LIMIT 1)
                WHERE id IN \(boundSet(db, chunk))
                """).run()
        }
    }

    /// The transitions of one outbox row, oldest first: `from → to (detail)`.
    public func transitions(messageID: String) async throws -> [String] {
        try await read { db in
            try await db.raw("SELECT from_status, to_status, detail FROM outbox_transitions WHERE message_id = \(bind: messageID) ORDER BY at_ms, \(insertionOrder)").all().map {
                "\(try $0.decode(column: "from_status", as: String?.self) ?? "-") → \(try $0.decode(column: "to_status", as: String.self))"
            }
        }
    }

    /// Outbox rows as (id, status, attempt, idempotency key, channel, purpose, last error), for ops and tests.
    public func outboxRows() async throws -> [(id: String, status: String, attempt: Int, key: String, channel: String, purpose: String, error: String?, due: Int64)] {
        try await read { db in
            try await db.raw("SELECT id, status, attempt, idempotency_key, channel, purpose, last_error, due_at_ms FROM outbox_messages ORDER BY created_at_ms, id").all().map {
                (try $0.decode(column: "id", as: String.self), try $0.decode(column: "status", as: String.self), try $0.decode(column: "attempt", as: Int.self),
                 try $0.decode(column: "idempotency_key", as: String.self), try $0.decode(column: "channel", as: String.self),
                 try $0.decode(column: "purpose", as: String.self), try $0.decode(column: "last_error", as: String?.self), try $0.decode(column: "due_at_ms", as: Int64.self))
            }
        }
    }

    /// The person and channel behind an unsubscribe token, if it is one of ours.
    public func unsubscribeTarget(hash: String) async throws -> (personID: String, channel: String)? {
        try await read { db in
            try await db.raw("SELECT person_id, channel FROM unsubscribe_tokens WHERE token_hash = \(bind: hash)").first().map {
                (try $0.decode(column: "person_id", as: String.self), try $0.decode(column: "channel", as: String.self))
            }
        }
    }

    /// Records an opt-out or opt-in for a channel, with where it came from.
    public func recordConsent(personID: String, channel: String, optedIn: Bool, source: String, inboundReplyID: String?, now: Date) async throws {
        try await transaction { db in
            try await Self.insertConsent(db, personID: personID, channel: channel, optedIn: optedIn, source: source, inboundReplyID: inboundReplyID, now: now.millis)
        }
    }

    static func insertConsent(_ db: any SQLDatabase, personID: String, channel: String, optedIn: Bool, source: String, inboundReplyID: String?, now: Int64) async throws {
        try await db.raw("""
            INSERT INTO consents (id, person_id, channel, status, source, inbound_reply_id, recorded_at_ms)
            VALUES (\(bind: "cs_" + newID()), \(bind: personID), \(bind: channel), \(bind: optedIn ? "opted_in" : "opted_out"), \(bind: source),
                    \(bind: inboundReplyID), \(bind: now))
            """).run()
    }
}

/// `(?, ?), (?, ?)` with every value bound, for multi-row VALUES lists.
public func valuesList(_ rows: [[any Encodable & Sendable]]) -> ValuesList { ValuesList(rows: rows) }

/// Rows of values written into a statement as `(?1, ?2), (?3, ?4)`, each value bound. Serialised straight into the
/// statement: built as an `SQLQueryString`, each value and each comma was a fragment of its own, boxed and walked
/// again (a scheduler tick writes ~2 million values this way); and each placeholder is the dialect's own text for
/// its position, made once per process (`BindPlaceholders`) instead of once per value.
public struct ValuesList: SQLExpression {
    let rows: [[any Encodable & Sendable]]

    public func serialize(to serializer: inout SQLSerializer) {
        let count = rows.reduce(0) { $0 + $1.count }
        let first = serializer.binds.count + 1
        let marks = BindPlaceholders.shared.marks(through: first + count - 1, serializer: serializer)
        var text = ""
        text.reserveCapacity(count * 8 + rows.count * 4)
        var position = first
        serializer.binds.reserveCapacity(serializer.binds.count + count)
        for (index, row) in rows.enumerated() {
            text += index == 0 ? "(" : ", ("
            for (column, value) in row.enumerated() {
                if column > 0 { text += ", " }
                serializer.binds.append(value)
                text += marks[position - 1]
                position += 1
            }
            text += ")"
        }
        serializer.write(text)
    }
}

/// A whole statement serialised ahead of running it — on another thread than the connection's, say (see
/// `SQLStore.schedule`) — for the dialect of the database it was made for. Only ever a statement of its own, never
/// part of another: its placeholders count from the first.
struct SerializedStatement: SQLExpression {
    let sql: String
    let binds: [any Encodable & Sendable]

    init(_ statement: SQLQueryString, for database: any SQLDatabase) {
        var serializer = SQLSerializer(database: database)
        statement.serialize(to: &serializer)
        sql = serializer.sql
        binds = serializer.binds
    }

    func serialize(to serializer: inout SQLSerializer) {
        precondition(serializer.binds.isEmpty, "a serialised statement is a statement of its own")
        serializer.write(sql)
        serializer.binds = binds
    }
}

/// The text of each bind position's placeholder in each dialect (`?7` on SQLite, `$7` on PostgreSQL), as the
/// dialect writes it, kept once made.
final class BindPlaceholders: Sendable {
    static let shared = BindPlaceholders()
    private let made = Mutex<[String: [String]]>([:])

    /// The placeholders for positions 1 through `last` in `serializer`'s dialect (index 0 is position 1).
    func marks(through last: Int, serializer: SQLSerializer) -> [String] {
        let dialect = serializer.dialect
        return made.withLock { made in
            var marks = made[dialect.name] ?? []
            if marks.count < last {
                var scratch = SQLSerializer(database: serializer.database)
                for position in (marks.count + 1)...last {
                    scratch.sql = ""
                    dialect.bindPlaceholder(at: position).serialize(to: &scratch)
                    marks.append(scratch.sql)
                }
                made[dialect.name] = marks
            }
            return marks
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

/// A set of strings for `IN`. On SQLite, bound as one JSON array — `(SELECT value FROM json_each(?))` — so the
/// statement's text is the same whatever the set and stays prepared: a list of 500 ids written into the text was
/// parsed afresh every time, about 1 ms a statement (a fifth of a first scheduler tick went on parsing its pages'
/// reads). On PostgreSQL, written into the text as before, quotes doubled: its planner makes a literal list a hashed
/// `= ANY` over a known number of values, where for a JSON subquery it guessed 100 rows and chose a nested loop over
/// a sequential scan (54 ms against well under 1 ms for a dispatch context read; dispatch fell from ~4,100 to
/// ~2,050 messages a second), and PostgresNIO prepares every statement anyway.
func boundSet(_ db: any SQLDatabase, _ values: some Sequence<String>) -> SQLQueryString {
    if db.dialect.name == "sqlite" { return "(SELECT value FROM json_each(\(bind: jsonArray(values))))" }
    var bytes: [UInt8] = [UInt8(ascii: "(")]
    for (index, value) in values.enumerated() {
        if index > 0 { bytes += [UInt8(ascii: ","), UInt8(ascii: " ")] }
        bytes.append(UInt8(ascii: "'"))
        for byte in value.utf8 {
            bytes.append(byte)
            if byte == UInt8(ascii: "'") { bytes.append(byte) }
        }
        bytes.append(UInt8(ascii: "'"))
    }
    // `IN ()` is an error on PostgreSQL: an empty set is written `(NULL)`, which `IN` matches nothing against (`NOT IN`
    // would match nothing either: no caller passes it an empty set on PostgreSQL).
    if bytes.count == 1 { bytes += Array("NULL".utf8) }
    bytes.append(UInt8(ascii: ")"))
    return SQLQueryString(String(decoding: bytes, as: UTF8.self))
}

/// `["a","b"]`: each string with `"`, `\` and control characters escaped (RFC 8259 §7). Built on bytes, like the
/// rest of the statement text: Foundation's encoders bridge through NSString.
func jsonArray(_ values: some Sequence<String>) -> String {
    var bytes: [UInt8] = [UInt8(ascii: "[")]
    bytes.reserveCapacity(values.underestimatedCount * 32 + 2)
    let hex = Array("0123456789abcdef".utf8)
    for (index, value) in values.enumerated() {
        if index > 0 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0..<0x20:
                bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
    bytes.append(UInt8(ascii: "]"))
    return String(decoding: bytes, as: UTF8.self)
}
