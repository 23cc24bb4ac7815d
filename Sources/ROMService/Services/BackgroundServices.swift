public import Delivery
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Scheduling
import Storage

/// The scheduler tick, the dispatcher and the sweeper, as lifecycle services.
public enum BackgroundServices {
    /// The dispatcher alone, for `rom dispatch` without --once.
    public static func dispatcher(_ env: ServiceEnvironment, onTick: @escaping @Sendable () -> Void = {}) -> PeriodicService {
        PeriodicService(name: "dispatcher", interval: .seconds(env.configuration.settings.dispatcherPoll.seconds), logger: env.logger) {
            try await dispatchTick(env)
            onTick()
        }
    }

    /// One dispatcher tick: drains what is due, then counts the outcomes per gateway and measures what is left waiting
    /// (`rom_dispatch_messages_total`, `rom_outbox_due_rows`, `rom_outbox_oldest_due_age_seconds` on /metrics).
    @discardableResult
    public static func dispatchTick(_ env: ServiceEnvironment) async throws -> OutboxWorker.Summary {
        let summary = try await drain(env)
        try await env.escalateUndeliverableAlerts(summary, now: env.now())
        for (gateway, outcomes) in summary.byGateway {
            for (outcome, count) in outcomes {
                env.metrics.makeCounter(descriptor: Metrics.dispatchedMessages, labels: [("gateway", gateway), ("outcome", outcome)]).increment(by: Int64(count))
            }
        }
        let now = env.now()
        let backlog = try await env.store.outboxBacklog(now: now)
        env.metrics.makeGauge(descriptor: Metrics.outboxDueRows).set(Int64(backlog.rows))
        env.metrics.makeGauge(descriptor: Metrics.outboxOldestDue).set(backlog.oldestDue.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        return summary
    }

    /// Sends what is due, batch by batch, until nothing is left or shutdown begins.
    public static func drain(_ env: ServiceEnvironment) async throws -> OutboxWorker.Summary {
        let worker = env.outboxWorker()
        // Urgent flags first: their alerts join this drain.
        let queued = try await env.queueFlagAlerts(now: env.now())
        if queued.alerts + queued.escalations > 0 {
            env.logger.notice("urgent flag alerts queued", metadata: ["alerts": "\(queued.alerts)", "escalations": "\(queued.escalations)"])
        }
        // Two passes side by side: while one waits on SQLite (one connection, taken in turn), the other renders,
        // signs and sends. Claims never overlap (each takes queued rows in its own transaction) and the daily cap
        // counts the other pass's messages in flight.
        return try await withThrowingTaskGroup(of: OutboxWorker.Summary.self) { group in
            for _ in 0..<max(1, env.configuration.settings.dispatchPasses) {
                group.addTask {
                    var total = OutboxWorker.Summary()
                    while true {
                        let summary = try await worker.runOnce()
                        total.add(summary)
                        if summary.claimed > 0 {
                            env.logger.info("dispatched", metadata: ["claimed": "\(summary.claimed)", "accepted": "\(summary.accepted)",
                                                                     "retried": "\(summary.retried)", "failed": "\(summary.failed)", "expired": "\(summary.expired)"])
                        }
                        if summary.claimed == 0 || Task.isShuttingDownGracefully { return total }
                    }
                }
            }
            var total = OutboxWorker.Summary()
            for try await summary in group { total.add(summary) }
            return total
        }
    }

    /// Accepted messages on gateways that send receipts, with none after `receipt_timeout` (48h), become unknown.
    @discardableResult
    public static func markUndelivered(_ env: ServiceEnvironment) async throws -> Int {
        let withReceipts = env.configuration.gateways.compactMap { name, settings -> String? in
            if case .webhook(let webhook) = settings.kind, webhook.receipts != nil { return name }
            return nil
        }
        let now = env.now()
        let changed = try await env.store.markUndelivered(gateways: withReceipts, acceptedBefore: now.addingTimeInterval(-Double(env.configuration.settings.receiptTimeout.seconds)), now: now)
        if changed > 0 { env.logger.notice("messages without a delivery receipt marked unknown", metadata: ["count": "\(changed)"]) }
        return changed
    }

    static func make(_ env: ServiceEnvironment) -> [any Service] {
        let settings = env.configuration.settings
        let ticks = env.metrics.makeCounter(descriptor: Metrics.backgroundTicks, labels: [("service", "scheduler")])
        let dispatches = env.metrics.makeCounter(descriptor: Metrics.backgroundTicks, labels: [("service", "dispatcher")])
        let sweeps = env.metrics.makeCounter(descriptor: Metrics.backgroundTicks, labels: [("service", "sweeper")])
        return [
            PeriodicService(name: "scheduler", interval: .seconds(settings.schedulerTick.seconds), logger: env.logger) {
                let applied = try await SchedulerRunner(env: env).tick(now: env.now())
                ticks.increment()
                if applied != AppliedPlan() {
                    env.logger.info("scheduler tick", metadata: [
                        "created": "\(applied.created)", "rescheduled": "\(applied.rescheduled)", "reminded": "\(applied.reminded)",
                        "expired": "\(applied.expired)", "missed": "\(applied.missed)", "flagged": "\(applied.flagged)",
                    ])
                }
            },
            dispatcher(env) { dispatches.increment() },
            PeriodicService(name: "sweeper", interval: .seconds(settings.sweeperInterval.seconds), logger: env.logger) {
                let removed = try await env.store.deleteExpiredSessions(now: env.now())
                try await markUndelivered(env)
                // Only replies stored a minute ago or more: newer ones are still being processed by their request.
                let replies = try await ReplyPipeline(env: env).reprocessPending(receivedBefore: env.now().addingTimeInterval(-60), now: env.now())
                if replies > 0 { env.logger.notice("stored replies processed after a restart", metadata: ["count": "\(replies)"]) }
                sweeps.increment()
                if removed > 0 { env.logger.info("expired sessions removed", metadata: ["count": "\(removed)"]) }
            },
        ]
    }
}
