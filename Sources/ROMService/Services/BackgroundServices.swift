import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Scheduling
import Storage

/// The scheduler tick, the dispatcher and the sweeper, as lifecycle services.
enum BackgroundServices {
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
            // Claiming and sending outbox rows arrives with the dispatcher issue.
            PeriodicService(name: "dispatcher", interval: .seconds(settings.dispatcherPoll.seconds), logger: env.logger) {
                dispatches.increment()
            },
            PeriodicService(name: "sweeper", interval: .seconds(settings.sweeperInterval.seconds), logger: env.logger) {
                let removed = try await env.store.deleteExpiredSessions(now: env.now())
                sweeps.increment()
                if removed > 0 { env.logger.info("expired sessions removed", metadata: ["count": "\(removed)"]) }
            },
        ]
    }
}
