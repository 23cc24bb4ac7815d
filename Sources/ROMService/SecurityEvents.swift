import Crypto
import Delivery
import Foundation
import Logging
import Prometheus

extension ServiceEnvironment {
    /// A refused provider request: logged as a structured security event with a hash of the source address (never
    /// the address, the body or the provider's text) and counted per event and route in `rom_security_events_total`.
    func securityEvent(_ event: String, route: String, gateway: String, source: String?) {
        let hash = source.map { Hex.encode(SHA256.hash(data: Data($0.utf8))).prefix(16) } ?? "unknown"
        logger.notice("provider request refused", metadata: ["event": "security.\(event)", "route": "\(route)", "gateway": "\(gateway)",
                                                             "source_hash": "\(hash)"])
        metrics.makeCounter(descriptor: Metrics.securityEvents, labels: [("event", event), ("route", route)]).increment()
    }
}
