public import Delivery
public import Foundation
public import Logging
public import Prometheus
public import Storage

/// What the running service is built from: configuration, store, clock, gateways and metrics.
public struct ServiceEnvironment: Sendable {
    public let configuration: Configuration
    public let store: SQLStore
    /// The clock; tests and `--now` pass a fixed one.
    public let now: @Sendable () -> Date
    public let metrics: PrometheusCollectorRegistry
    public let logger: Logger
    public let gateways: [String: any Gateway]
    public let composer: MessageComposer

    public init(configuration: Configuration, store: SQLStore, now: @escaping @Sendable () -> Date,
                metrics: PrometheusCollectorRegistry, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.now = now
        self.metrics = metrics
        self.logger = logger
        var gateways: [String: any Gateway] = [:]
        for (name, settings) in configuration.gateways {
            switch settings.kind {
            case .sandbox:
                gateways[name] = SandboxGateway(name: name, channel: settings.channel, store: store)
            case .webhook, .smtp:
                // Webhook and SMTP gateways arrive with the dispatcher (libcurl); until then they are configured but idle.
                continue
            }
        }
        self.gateways = gateways
        self.composer = try MessageComposer(templates: configuration.templates)
    }
}

extension ServiceEnvironment {
    /// An environment for a one-shot command: its own metrics registry, a fixed or live clock.
    public static func command(configuration: Configuration, store: SQLStore, now: @escaping @Sendable () -> Date, logger: Logger) throws -> ServiceEnvironment {
        try ServiceEnvironment(configuration: configuration, store: store, now: now, metrics: PrometheusCollectorRegistry(), logger: logger)
    }
}
