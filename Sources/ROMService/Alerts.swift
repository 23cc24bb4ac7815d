public import Foundation
public import Delivery
import Logging
import Prometheus
import Scheduling
import Storage

extension ServiceEnvironment {
    /// Where each team's urgent flags go, from rom.yaml's `teams` (already checked against the gateways).
    var alertRoutes: [String: TeamAlertRoute] {
        var routes: [String: TeamAlertRoute] = [:]
        for (team, alert) in configuration.settings.teams {
            guard let gateway = configuration.gateways[alert.gateway] else { continue }
            routes[team] = TeamAlertRoute(channel: gateway.channel.rawValue, gateway: alert.gateway, address: alert.to,
                                          escalationAddress: alert.escalateTo, escalateAfter: alert.escalateAfter.map { Double($0.seconds) })
        }
        return routes
    }

    /// Team alerts that dead-lettered go to the escalation address at once, and are counted in
    /// `rom_alerts_undeliverable_total` (alert on any increase: an urgent flag may not have reached anyone).
    @discardableResult
    public func escalateUndeliverableAlerts(_ summary: OutboxWorker.Summary, now: Date) async throws -> Int {
        let failed = summary.undeliverableAlerts.count + summary.undeliverableEscalations
        guard failed > 0 else { return 0 }
        metrics.makeCounter(descriptor: Metrics.undeliverableAlerts).increment(by: Int64(failed))
        logger.error("urgent flag alerts could not be delivered", metadata: ["alerts": "\(summary.undeliverableAlerts.count)",
                                                                            "escalations": "\(summary.undeliverableEscalations)"])
        let base = configuration.settings.publicURL
        return try await store.escalateUndeliverable(flagIDs: summary.undeliverableAlerts, routes: alertRoutes, message: { flagID, _ in
            ("Escalation: urgent flag alert undeliverable",
             "An urgent flag raised in rom could not be sent to the team's alert address. Please make sure someone reviews it now: \(base)/clinician/flags#\(flagID)")
        }, now: now)
    }

    /// Queues team alerts for new urgent flags and escalations for unacknowledged ones. The message names no person and
    /// no answer: only that a flag waits, and the link to the team's flag list (where signing in is required).
    @discardableResult
    public func queueFlagAlerts(now: Date) async throws -> (alerts: Int, escalations: Int) {
        let base = configuration.settings.publicURL
        return try await store.queueFlagAlerts(routes: alertRoutes, message: { flagID, escalated in
            let link = "\(base)/clinician/flags#\(flagID)"
            return escalated
                ? ("Escalation: urgent flag not yet acknowledged",
                   "An urgent flag raised in rom has not been acknowledged by the team. Please make sure someone reviews it now: \(link)")
                : ("Urgent flag to review", "An urgent flag has been raised in rom for a person in your team. Please review it today: \(link)")
        }, now: now)
    }
}
