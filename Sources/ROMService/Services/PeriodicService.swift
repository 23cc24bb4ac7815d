public import Logging
public import ServiceLifecycle

/// A background job that runs `tick` every `interval` until graceful shutdown.
///
/// Each tick finishes before shutdown completes: the sleep is cancelled, the work is not.
public struct PeriodicService: Service {
    public let name: String
    let interval: Duration
    let logger: Logger
    let tick: @Sendable () async throws -> Void

    public init(name: String, interval: Duration, logger: Logger, tick: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.tick = tick
    }

    public func run() async throws {
        logger.info("service started", metadata: ["service": "\(name)"])
        while !Task.isShuttingDownGracefully {
            do {
                try await tick()
            } catch {
                logger.error("tick failed", metadata: ["service": "\(name)", "error": "\(String(describing: type(of: error)))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
        }
        logger.info("service stopped", metadata: ["service": "\(name)"])
    }
}
