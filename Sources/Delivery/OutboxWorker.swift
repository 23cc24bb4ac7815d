public import Foundation
public import Logging
public import Scheduling
public import Storage

/// Claims due outbox rows, checks opt-out, erasure, closing and the daily cap just before each send, sends through
/// the row's gateway, and records the outcome fenced by the claim's lease.
public struct OutboxWorker: Sendable {
    public struct Summary: Sendable, Equatable {
        public var claimed = 0
        public var accepted = 0
        public var retried = 0
        public var failed = 0
        public var expired = 0
        public var staleLeases = 0
        /// Messages per gateway and outcome (`accepted`, `retried`, `failed`, `expired`), for the dispatch metrics.
        public var byGateway: [String: [String: Int]] = [:]
        /// Flags whose team alert dead-lettered: they go to the escalation address at once.
        public var undeliverableAlerts: [String] = []
        /// Escalations that dead-lettered too: nobody could be told by message (counted for alerting on /metrics).
        public var undeliverableEscalations = 0

        public init() {}

        public mutating func add(_ other: Summary) {
            claimed += other.claimed
            accepted += other.accepted
            retried += other.retried
            failed += other.failed
            expired += other.expired
            staleLeases += other.staleLeases
            byGateway.merge(other.byGateway) { $0.merging($1, uniquingKeysWith: +) }
            undeliverableAlerts += other.undeliverableAlerts
            undeliverableEscalations += other.undeliverableEscalations
        }
    }

    let store: SQLStore
    let gateways: [String: any Gateway]
    let composer: MessageComposer
    let pathways: [String: Pathway]
    let links: LinkSigner
    let policy: RetryPolicy
    let lease: TimeInterval
    let dailyCap: Int
    let batch: Int
    let concurrency: Int
    let clock: @Sendable () -> Date
    let jitter: @Sendable () -> Double
    let logger: Logger

    public init(store: SQLStore, gateways: [String: any Gateway], composer: MessageComposer, pathways: [String: Pathway], links: LinkSigner,
                policy: RetryPolicy = RetryPolicy(), lease: TimeInterval = 60, dailyCap: Int = 10, batch: Int = 1_000, concurrency: Int = 16,
                clock: @escaping @Sendable () -> Date, jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }, logger: Logger) {
        self.store = store
        self.gateways = gateways
        self.composer = composer
        self.pathways = pathways
        self.links = links
        self.policy = policy
        self.lease = lease
        self.dailyCap = dailyCap
        self.batch = batch
        self.concurrency = concurrency
        self.clock = clock
        self.jitter = jitter
        self.logger = logger
    }

    /// Most rows one step of a claim or record writes on SQLite: a claim writes a row per message, an outcome a row
    /// per message and one per prompt it carries.
    public static let writeChunk = 100

    /// One pass: claim what is due now, check each claim, store the link tokens, send `concurrency` at a time,
    /// and record every outcome. Reads and token writes take one database round for the batch; claims and outcomes
    /// are written in steps of `writeChunk` rows on SQLite (the whole batch at once on PostgreSQL).
    public func runOnce() async throws -> Summary {
        // Nobody waits on a pass: a webhook or a page waiting for SQLite goes first (see `SQLStore.transactions`).
        try await SQLStore.$backgroundWork.withValue(true) { try await pass() }
    }

    private func pass() async throws -> Summary {
        // On SQLite the batch is claimed, and later recorded, in steps of about `writeChunk` rows: it has one writer,
        // and a webhook storing a person's reply waits behind whatever transaction holds it (R39). The steps share a
        // commit (an fsync) until someone waits for the database, who then waits for one step, not the batch.
        // PostgreSQL writes side by side.
        let stepRows = store.engine == .sqlite ? Self.writeChunk : nil
        let claims = try await store.claimDue(now: clock(), limit: batch, lease: lease, step: stepRows)
        var summary = Summary()
        summary.claimed = claims.count
        guard !claims.isEmpty else { return summary }
        let now = clock()
        let contexts = try await store.deliveryContexts(for: claims, now: now)

        // Checks just before sending: closing, erasure, opt-out, the daily cap, the gateway.
        var outcomes: [(SendResult, ClaimedMessage)] = []
        var fallbacks: [(ClaimedMessage, DeliveryContext)] = []
        var ready: [(ClaimedMessage, DeliveryContext, any Gateway, OutboundMessage)] = []
        var checkinTokens: [(hash: String, personID: String, expiresAt: Date)] = []
        var unsubscribeTokens: [(hash: String, personID: String, channel: String)] = []
        var replyTokens: [(hash: String, personID: String, expiresAt: Date, promptIDs: [String])] = []
        // Messages this batch is about to send per person, so the daily cap holds within a batch too.
        var sendingNow: [String: Int] = [:]
        for (claim, found) in zip(claims, contexts) {
            guard var context = found else {
                outcomes.append((.failed(reason: "person not found"), claim))
                continue
            }
            context.sentToday += sendingNow[claim.personID] ?? 0
            if OutboxPurpose.direct.contains(claim.purpose) {
                switch direct(claim, context: context) {
                case .success(let message): ready.append((claim, context, gateways[claim.gateway]!, message))
                case .failure(let result): outcomes.append((result.result, claim))
                }
                continue
            }
            if let result = check(claim, context: context, now: now) {
                outcomes.append((result, claim))
                if case .failed = result { fallbacks.append((claim, context)) }
                continue
            }
            guard let gateway = gateways[claim.gateway], let channel = Channel(rawValue: claim.channel), let address = context.address else {
                outcomes.append((.failed(reason: "gateway \(claim.gateway) is not available"), claim))
                continue
            }
            let link = links.checkin(key: claim.idempotencyKey)
            // The link works until the pathway's grace after closing ends: late answers still count for their prompts.
            let grace = TimeInterval(pathways[context.pathway]?.checkIn.grace.seconds ?? 0)
            let linkExpiry = (context.closesAt ?? now.addingTimeInterval(7 * 86_400)).addingTimeInterval(grace)
            checkinTokens.append((LinkSigner.hash(link.token), claim.personID, linkExpiry))
            var unsubscribe: String?
            var replyToken: String?
            if channel == .email {
                let link = links.unsubscribe(personID: claim.personID, channel: claim.channel)
                unsubscribeTokens.append((LinkSigner.hash(link.token), claim.personID, claim.channel))
                unsubscribe = link.url
                if gateway.usesReplyTokens {
                    let token = links.reply(key: claim.idempotencyKey)
                    replyTokens.append((LinkSigner.hash(token), claim.personID, linkExpiry, context.openPromptIDs))
                    replyToken = token
                }
            }
            // Reply-by-SMS pathways: the SMS names each prompt's code, so a reply can say which it answers.
            var codes: [String] = []
            if channel == .sms, pathways[context.pathway]?.smsStyle == .reply {
                codes = try await store.assignReplyCodes(personID: claim.personID, promptIDs: context.openPromptIDs)
            }
            var message = composer.compose(personID: claim.personID, givenName: context.givenName, channel: channel, recipient: address,
                                           link: link.url, unsubscribeLink: unsubscribe, idempotencyKey: claim.idempotencyKey, replyCodes: codes)
            message.replyToken = replyToken
            message.dated = claim.firstAttemptAt
            ready.append((claim, context, gateway, message))
            sendingNow[claim.personID, default: 0] += 1
        }
        // Links work before anyone can receive them.
        try await store.storeLinkTokens(checkin: checkinTokens, unsubscribe: unsubscribeTokens, reply: replyTokens, now: now)

        try await withThrowingTaskGroup(of: (SendResult, ClaimedMessage, DeliveryContext).self) { group in
            var iterator = ready.makeIterator()
            func next() -> Bool {
                guard let (claim, context, gateway, message) = iterator.next() else { return false }
                group.addTask {
                    // Consent and erasure again, per message, just before it goes: a STOP committed while this batch is
                    // in flight stops every later send to that person (staff alerts are not the person's to stop).
                    if !OutboxPurpose.staff.contains(claim.purpose), let reason = try await self.store.suppression(personID: claim.personID, channel: claim.channel) {
                        return (.failed(reason: reason), claim, context)
                    }
                    let outcome = await gateway.send(message, now: now)
                    return (self.result(outcome, attempt: claim.attempt, urgent: OutboxPurpose.staff.contains(claim.purpose)), claim, context)
                }
                return true
            }
            for _ in 0..<concurrency where !next() { break }
            while let (result, claim, context) = try await group.next() {
                outcomes.append((result, claim))
                if case .failed = result { fallbacks.append((claim, context)) }
                _ = next()
            }
        }

        let held = try await store.record(outcomes, now: clock(), stepRows: stepRows)
        var stale = Set<String>()
        for ((result, claim), kept) in zip(outcomes, held) {
            if !kept {
                summary.staleLeases += 1
                stale.insert(claim.id)
                logger.warning("late outcome ignored: the lease was taken over", metadata: ["message": "\(claim.id)", "attempt": "\(claim.attempt)"])
                continue
            }
            let outcome: String
            switch result {
            case .accepted:
                summary.accepted += 1
                outcome = "accepted"
            case .retry:
                summary.retried += 1
                outcome = "retried"
            case .failed(let reason):
                summary.failed += 1
                outcome = "failed"
                logger.notice("message failed", metadata: ["message": "\(claim.id)", "gateway": "\(claim.gateway)", "reason": "\(reason)"])
                if claim.purpose == OutboxPurpose.teamAlert, claim.idempotencyKey.hasPrefix("alert:") {
                    summary.undeliverableAlerts.append(String(claim.idempotencyKey.dropFirst("alert:".count)))
                } else if claim.purpose == OutboxPurpose.escalation {
                    summary.undeliverableEscalations += 1
                }
            case .expired:
                summary.expired += 1
                outcome = "expired"
            }
            summary.byGateway[claim.gateway, default: [:]][outcome, default: 0] += 1
        }
        for (claim, context) in fallbacks where !stale.contains(claim.id) {
            try await fallBack(claim, context: context, now: clock())
        }
        return summary
    }

    struct Refusal: Error { var result: SendResult }

    /// A message decided when it was queued (an auto-reply, a team alert). Team alerts go to staff addresses, so the
    /// person's opt-out does not stop them; an auto-reply goes to the person's current address, so erasure and opt-out do.
    func direct(_ claim: ClaimedMessage, context: DeliveryContext) -> Result<OutboundMessage, Refusal> {
        guard let content = DirectMessage.decode(claim.payload) else { return .failure(Refusal(result: .failed(reason: "the stored message cannot be read"))) }
        guard gateways[claim.gateway] != nil, let channel = Channel(rawValue: claim.channel) else {
            return .failure(Refusal(result: .failed(reason: "gateway \(claim.gateway) is not available")))
        }
        let recipient: String?
        if claim.purpose == OutboxPurpose.reply {
            if context.contactErased { return .failure(Refusal(result: .failed(reason: "contact erased"))) }
            if context.optedOut { return .failure(Refusal(result: .failed(reason: "opted out of \(claim.channel)"))) }
            recipient = context.address
        } else {
            recipient = content.recipient
        }
        guard let recipient else { return .failure(Refusal(result: .failed(reason: "no \(claim.channel) address"))) }
        var message = OutboundMessage(personID: claim.personID, channel: channel, recipient: recipient, subject: content.subject, text: content.text,
                                      html: nil, link: nil, idempotencyKey: claim.idempotencyKey)
        message.dated = claim.firstAttemptAt
        return .success(message)
    }

    /// A result without sending, when a check says the message must not go now; nil when it may be sent.
    func check(_ claim: ClaimedMessage, context: DeliveryContext, now: Date) -> SendResult? {
        if !claim.promptIDs.isEmpty && (context.promptsClosed || (context.closesAt.map { $0 <= now } ?? false)) {
            return .expired(reason: context.promptsClosed ? "prompts answered or closed" : "check-in closed before sending")
        }
        if context.contactErased { return .failed(reason: "contact erased") }
        if context.optedOut { return .failed(reason: "opted out of \(claim.channel)") }
        if context.address == nil { return .failed(reason: "no \(claim.channel) address") }
        if let opening = windowOpening(context: context, now: now) {
            return .retry(at: opening, reason: "outside the send window; deferred to its next opening", countsAsAttempt: false)
        }
        if context.sentToday >= dailyCap {
            return .retry(at: capRetry(context: context, now: now), reason: "daily cap of \(dailyCap) messages reached", countsAsAttempt: false)
        }
        return nil
    }

    /// When to look again at a message held by the daily cap. Held only because other claims are sending to the same
    /// person: once their lease is up their outcome is known (a failure frees the place). Otherwise when the oldest
    /// message counted leaves the 24-hour window — at least a minute on, at most a day (the send window still applies
    /// at the next claim).
    func capRetry(context: DeliveryContext, now: Date) -> Date {
        if context.sentToday - context.inFlightElsewhere < dailyCap { return now.addingTimeInterval(max(lease, 1)) }
        let frees = context.oldestSentAt.map { $0.addingTimeInterval(86_400) } ?? now.addingTimeInterval(3_600)
        return min(max(frees, now.addingTimeInterval(60)), now.addingTimeInterval(86_400))
    }

    /// When `now` is outside the pathway's send window in the person's own time zone (the pathway's when they have
    /// none), the window's next opening; nil when a message may go now. The scheduler plans sends inside the window,
    /// but a retry, a cap hold or a dispatcher that was down overnight would otherwise send at 3 a.m.: quiet hours
    /// defer, never drop (a check-in that closes first is expired at its next claim, never sent late).
    func windowOpening(context: DeliveryContext, now: Date) -> Date? {
        guard let pathway = pathways[context.pathway],
              let zone = context.timezone.flatMap(ZoneRules.cached) ?? ZoneRules.cached(pathway.timezone) else { return nil }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let opening = Planner(pathway: pathway, zone: zone).deferIntoWindow(seconds)
        return opening > seconds ? Date(timeIntervalSince1970: Double(opening)) : nil
    }

    /// What to record for a gateway's answer: retries with backoff until the last attempt, then dead-letter. Urgent
    /// staff alerts retry on `RetryPolicy.urgent`.
    func result(_ outcome: SendOutcome, attempt: Int, urgent: Bool = false) -> SendResult {
        let policy = urgent ? self.policy.urgent : self.policy
        switch outcome {
        case .accepted(let id):
            return .accepted(providerMessageID: id)
        case .transient(let reason, let retryAfter):
            if attempt >= policy.maxAttempts { return .failed(reason: "gave up after \(attempt) attempts: \(reason)") }
            let delay = policy.retryDelay(afterAttempt: attempt, retryAfter: retryAfter, unit: jitter())
            return .retry(at: clock().addingTimeInterval(delay), reason: reason, countsAsAttempt: true)
        case .permanent(let reason):
            return .failed(reason: reason)
        }
    }

    /// After a permanent failure, queues the prompts on the pathway's next usable channel.
    private func fallBack(_ claim: ClaimedMessage, context: DeliveryContext, now: Date) async throws {
        guard !claim.promptIDs.isEmpty, let pathway = pathways[context.pathway],
              let index = pathway.channels.firstIndex(where: { $0.rawValue == claim.channel }) else { return }
        for channel in pathway.channels[(index + 1)...] where context.usableChannels.contains(channel.rawValue) {
            guard let gateway = pathway.gateways[channel] else { continue }
            try await store.fallBack(claim, to: channel.rawValue, gateway: gateway, now: now)
            logger.info("falling back to another channel", metadata: ["message": "\(claim.id)", "channel": "\(channel.rawValue)"])
            return
        }
    }
}
