public import Foundation
import Delivery
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
