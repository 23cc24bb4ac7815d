public import Delivery
import Foundation
import Synchronization
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
        let retention = RetentionSchedule(every: 6 * 3_600)
        let planned = FirstTime()
        return [
            PeriodicService(name: "scheduler", interval: .seconds(settings.schedulerTick.seconds), logger: env.logger) {
                // One scheduler tick at a time across instances: each tick is run by whichever instance takes the lock
                // first; the others stand by for that tick. An instance that dies simply stops taking turns.
                let ran = try await exclusively(env, "scheduler") {
                    // This process's first tick plans everyone (the pathways may have changed since the last run); later
                    // ticks only the enrolments whose attention instant has come.
                    let full = !planned.isPast
                    // Nobody waits on a tick: a webhook or a page waiting for SQLite goes first (see `SQLStore.transactions`).
                    let applied = try await SQLStore.$backgroundWork.withValue(true) { try await SchedulerRunner(env: env).tick(now: env.now(), full: full) }
                    planned.pass()
                    if applied != AppliedPlan() {
                        env.logger.info("scheduler tick", metadata: [
                            "created": "\(applied.created)", "rescheduled": "\(applied.rescheduled)", "reminded": "\(applied.reminded)",
                            "expired": "\(applied.expired)", "missed": "\(applied.missed)", "flagged": "\(applied.flagged)",
                        ])
                    }
                    return "created \(applied.created), reminded \(applied.reminded), expired \(applied.expired), missed \(applied.missed), flagged \(applied.flagged)"
                }
                if ran { ticks.increment() }
            },
            dispatcher(env) { dispatches.increment() },
            PeriodicService(name: "sweeper", interval: .seconds(settings.sweeperInterval.seconds), logger: env.logger) {
                if try await exclusively(env, "sweeper", { try await sweep(env, retention: retention) }) { sweeps.increment() }
            },
        ]
    }

    /// Runs `job` under the instances' lock for `service` and records the run (its duration, or `standby` when another
    /// instance holds the lock) for the ops status page and /metrics. True when this instance ran it.
    static func exclusively(_ env: ServiceEnvironment, _ service: String, _ job: @Sendable () async throws -> String) async throws -> Bool {
        let startedAt = env.now()
        let clock = ContinuousClock()
        let started = clock.now
        func milliseconds() -> Int64 { let elapsed = clock.now - started; return elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000 }
        let ran = env.metrics.makeGauge(descriptor: Metrics.serviceRan, labels: [("service", service)])
        do {
            guard let detail = try await env.store.whileHolding(lock: "rom.\(service)", job) else {
                ran.set(Int64(0))
                try? await env.store.recordRun(ServiceRun(service: service, instance: env.instance, startedAt: startedAt, durationMilliseconds: milliseconds(),
                                                          outcome: "standby", detail: "another instance runs it"))
                return false
            }
            ran.set(Int64(1))
            let duration = milliseconds()
            env.metrics.makeGauge(descriptor: Metrics.serviceLastRun, labels: [("service", service)]).set(startedAt.timeIntervalSince1970)
            env.metrics.makeGauge(descriptor: Metrics.serviceRunDuration, labels: [("service", service)]).set(Double(duration) / 1_000)
            try? await env.store.recordRun(ServiceRun(service: service, instance: env.instance, startedAt: startedAt, durationMilliseconds: duration, outcome: "ok", detail: detail))
            return true
        } catch {
            try? await env.store.recordRun(ServiceRun(service: service, instance: env.instance, startedAt: startedAt, durationMilliseconds: milliseconds(),
                                                      outcome: "failed", detail: String(describing: type(of: error))))
            throw error
        }
    }

    /// One sweep: expired sessions, messages without receipts, stored replies left unprocessed, and retention.
    static func sweep(_ env: ServiceEnvironment, retention: RetentionSchedule) async throws -> String {
        let settings = env.configuration.settings
        let removed = try await env.store.deleteExpiredSessions(idle: TimeInterval(settings.sessionIdle.seconds), now: env.now())
        try await markUndelivered(env)
        // Only replies stored a minute ago or more: newer ones are still being processed by their request.
        let replies = try await ReplyPipeline(env: env).reprocessPending(receivedBefore: env.now().addingTimeInterval(-60), now: env.now())
        if replies > 0 { env.logger.notice("stored replies processed after a restart", metadata: ["count": "\(replies)"]) }
        // Retention every six hours: the purge scans whole tables, and nothing needs it sooner.
        if retention.due(now: env.now()) {
            let counts = try await env.store.purge(settings.retention.cutoffs(now: env.now()), dryRun: false, now: env.now())
            let total = counts.values.reduce(0, +)
            if total > 0 { env.logger.info("retention applied", metadata: ["items": "\(total)"]) }
        }
        if removed > 0 { env.logger.info("expired sessions removed", metadata: ["count": "\(removed)"]) }
        return "sessions \(removed), replies \(replies)"
    }
}

/// When the sweeper last applied retention: due at its first sweep, then every `every` seconds.
final class RetentionSchedule: Sendable {
    let every: TimeInterval
    private let last = Mutex<Date?>(nil)

    init(every: TimeInterval) { self.every = every }

    func due(now: Date) -> Bool {
        last.withLock { last in
            if let previous = last, now.timeIntervalSince(previous) < every { return false }
            last = now
            return true
        }
    }
}

/// True until `pass()` is called once: a process's first successful run of something.
final class FirstTime: Sendable {
    private let passed = Atomic<Bool>(false)
    var isPast: Bool { passed.load(ordering: .acquiring) }
    func pass() { passed.store(true, ordering: .releasing) }
}
