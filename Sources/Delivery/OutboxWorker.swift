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

        public init() {}
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
                policy: RetryPolicy = RetryPolicy(), lease: TimeInterval = 60, dailyCap: Int = 10, batch: Int = 200, concurrency: Int = 16,
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

    /// One pass: claim what is due now and send it, `concurrency` messages at a time.
    public func runOnce() async throws -> Summary {
        let claims = try await store.claimDue(now: clock(), limit: batch, lease: lease)
        var summary = Summary()
        summary.claimed = claims.count
        try await withThrowingTaskGroup(of: (SendResult, Bool).self) { group in
            var iterator = claims.makeIterator()
            func next() -> Bool {
                guard let claim = iterator.next() else { return false }
                group.addTask { try await self.process(claim) }
                return true
            }
            for _ in 0..<concurrency where !next() { break }
            while let (result, recorded) = try await group.next() {
                if !recorded { summary.staleLeases += 1 }
                switch result {
                case .accepted: summary.accepted += 1
                case .retry: summary.retried += 1
                case .failed: summary.failed += 1
                case .expired: summary.expired += 1
                }
                _ = next()
            }
        }
        return summary
    }

    /// Sends one claimed message and records what happened; returns the result and whether the lease still held.
    func process(_ claim: ClaimedMessage) async throws -> (SendResult, Bool) {
        let now = clock()
        guard let context = try await store.deliveryContext(for: claim, now: now) else {
            return (.failed(reason: "person not found"), try await store.record(.failed(reason: "person not found"), for: claim, now: now))
        }
        if !claim.promptIDs.isEmpty && (context.promptsClosed || (context.closesAt.map { $0 <= now } ?? false)) {
            let result = SendResult.expired(reason: context.promptsClosed ? "prompts answered or closed" : "check-in closed before sending")
            return (result, try await store.record(result, for: claim, now: now))
        }
        if context.contactErased {
            return (.failed(reason: "contact erased"), try await store.record(.failed(reason: "contact erased"), for: claim, now: now))
        }
        if context.optedOut || context.address == nil {
            let reason = context.optedOut ? "opted out of \(claim.channel)" : "no \(claim.channel) address"
            let recorded = try await store.record(.failed(reason: reason), for: claim, now: now)
            if recorded { try await fallBack(claim, context: context, now: now) }
            return (.failed(reason: reason), recorded)
        }
        if context.sentToday >= dailyCap {
            let result = SendResult.retry(at: now.addingTimeInterval(3_600), reason: "daily cap of \(dailyCap) messages reached", countsAsAttempt: false)
            return (result, try await store.record(result, for: claim, now: now))
        }
        guard let gateway = gateways[claim.gateway], let channel = Channel(rawValue: claim.channel), let address = context.address else {
            let result = SendResult.failed(reason: "gateway \(claim.gateway) is not available")
            return (result, try await store.record(result, for: claim, now: now))
        }

        let link = links.checkin(key: claim.idempotencyKey)
        try await store.storeCheckinToken(hash: LinkSigner.hash(link.token), personID: claim.personID,
                                          expiresAt: context.closesAt ?? now.addingTimeInterval(7 * 86_400), now: now)
        var unsubscribe: String?
        if channel == .email {
            let link = links.unsubscribe(personID: claim.personID, channel: claim.channel)
            try await store.storeUnsubscribeToken(hash: LinkSigner.hash(link.token), personID: claim.personID, channel: claim.channel, now: now)
            unsubscribe = link.url
        }
        let message = composer.compose(personID: claim.personID, givenName: context.givenName, channel: channel, recipient: address,
                                       link: link.url, unsubscribeLink: unsubscribe, idempotencyKey: claim.idempotencyKey)
        let outcome = await gateway.send(message, now: now)
        let finished = clock()
        let result: SendResult
        switch outcome {
        case .accepted(let id):
            result = .accepted(providerMessageID: id)
        case .transient(let reason, let retryAfter):
            if claim.attempt >= policy.maxAttempts {
                result = .failed(reason: "gave up after \(claim.attempt) attempts: \(reason)")
            } else {
                let delay = policy.retryDelay(afterAttempt: claim.attempt, retryAfter: retryAfter, unit: jitter())
                result = .retry(at: finished.addingTimeInterval(delay), reason: reason, countsAsAttempt: true)
            }
        case .permanent(let reason):
            result = .failed(reason: reason)
        }
        let recorded = try await store.record(result, for: claim, now: finished)
        if !recorded {
            logger.warning("late outcome ignored: the lease was taken over", metadata: ["message": "\(claim.leadID)", "attempt": "\(claim.attempt)"])
        } else if case .failed = result {
            try await fallBack(claim, context: context, now: finished)
        }
        if case .failed(let reason) = result {
            logger.notice("message failed", metadata: ["message": "\(claim.leadID)", "gateway": "\(claim.gateway)", "reason": "\(reason)"])
        }
        return (result, recorded)
    }

    /// After a permanent failure, queues the prompts on the pathway's next usable channel.
    private func fallBack(_ claim: ClaimedMessage, context: DeliveryContext, now: Date) async throws {
        guard !claim.promptIDs.isEmpty, let pathway = pathways[context.pathway],
              let index = pathway.channels.firstIndex(where: { $0.rawValue == claim.channel }) else { return }
        for channel in pathway.channels[(index + 1)...] where context.usableChannels.contains(channel.rawValue) {
            guard let gateway = pathway.gateways[channel] else { continue }
            try await store.fallBack(claim, to: channel.rawValue, gateway: gateway, now: now)
            logger.info("falling back to another channel", metadata: ["message": "\(claim.leadID)", "channel": "\(channel.rawValue)"])
            return
        }
    }
}
