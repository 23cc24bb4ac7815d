public import Foundation
import Hummingbird
public import Logging
import Metrics
import Prometheus
public import ServiceLifecycle
import UnixSignals
import Storage

/// `rom serve`: the HTTP server and background services under one service group.
public enum Server {
    /// Seconds an HTTP connection may stay silent (idle between requests, or mid-headers) before it is closed.
    public static let idleTimeout = 30

    /// Runs `services` until SIGTERM or SIGINT, then shuts them down gracefully.
    public static func runServices(_ services: [any Service], logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully.
    public static func run(configuration: Configuration, logger: Logger, now: @escaping @Sendable () -> Date) async throws {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: logger)
        // Held until the process exits: on SQLite a second `rom serve` or `rom dispatch` is refused (R12).
        let lock: DispatcherLock?
        do {
            try await store.checkReady()
            lock = try store.dispatcherLock(holder: "rom serve")
        } catch {
            try? await store.close()
            throw error
        }
        let env = try ServiceEnvironment(configuration: configuration, store: store, now: now, metrics: registry, logger: logger)
        // Replies stored before a stop but not yet processed are handled before anything new arrives.
        try await ReplyPipeline(env: env).reprocessPending(receivedBefore: nil, now: env.now())
        let settings = configuration.settings
        let app = Application(
            router: Routes.router(env),
            // A connection that sends nothing for this long is closed: one that dribbles its headers (or never sends a
            // request) cannot hold a place for ever. A request being answered is not cut.
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(Server.idleTimeout)))),
            configuration: .init(address: .hostname(settings.listenHost, port: settings.listenPort), serverName: "rom"),
            onServerRunning: { _ in
                logger.info("listening", metadata: ["address": "\(settings.listenHost):\(settings.listenPort)"])
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app)] + BackgroundServices.make(env).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        await env.background.drain()
        try await store.close()
        withExtendedLifetime(lock) {}
        logger.info("stopped")
    }
}
