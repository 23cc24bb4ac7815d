public import Delivery
public import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import Logging
public import Prometheus
import Scheduling
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
    public let links: LinkSigner
    /// The libcurl loop behind webhook and SMTP gateways; nil when only the sandbox is configured.
    public let curl: CurlMultiLoop?
    /// Secrets for verifying what providers send, resolved once at start-up: gateway → inbound (SMS or email) and receipt secrets.
    public let inboundSecrets: [String: (inbound: [String], receipts: [String])]
    /// Replies being processed after their webhook was answered.
    public let background = BackgroundWork()
    /// Failed credential attempts per source address (R30), shared by every router built from this environment.
    public let failureLimiter: FailureLimiter
    /// This process among several instances on one database: host and pid (the ops status page lists each).
    public let instance = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"

    /// Builds gateways (resolving their secrets from `environment` now, so a missing one fails at start-up) and the link signer.
    public init(configuration: Configuration, store: SQLStore, now: @escaping @Sendable () -> Date,
                metrics: PrometheusCollectorRegistry, logger: Logger,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.configuration = configuration
        self.failureLimiter = FailureLimiter(limit: configuration.settings.failedAttempts, window: Double(configuration.settings.failedAttemptWindow.seconds))
        self.store = store
        self.now = now
        self.metrics = metrics
        self.logger = logger
        let needsCurl = configuration.gateways.values.contains { if case .sandbox = $0.kind { return false } else { return true } }
        let curl = needsCurl ? CurlMultiLoop() : nil
        var gateways: [String: any Gateway] = [:]
        for (name, settings) in configuration.gateways {
            let transport = settings.transport
            switch settings.kind {
            case .sandbox:
                gateways[name] = SandboxGateway(name: name, channel: settings.channel, store: store)
            case .webhook(let webhook):
                guard let curl else { continue }
                gateways[name] = try WebhookGateway(name: name, settings: webhook, rateLimit: settings.rateLimit, curl: curl, environment: environment,
                                                    connectTimeoutMilliseconds: transport.connectTimeoutMilliseconds,
                                                    timeoutMilliseconds: transport.timeoutMilliseconds, caBundle: transport.caBundle)
            case .smtp(let smtp):
                guard let curl else { continue }
                gateways[name] = try SMTPGateway(name: name, settings: smtp, rateLimit: settings.rateLimit, curl: curl, environment: environment,
                                                 connectTimeoutMilliseconds: transport.connectTimeoutMilliseconds,
                                                 timeoutMilliseconds: transport.timeoutMilliseconds, caBundle: transport.caBundle)
            }
        }
        self.curl = curl
        self.gateways = gateways
        var inboundSecrets: [String: (inbound: [String], receipts: [String])] = [:]
        for (name, settings) in configuration.gateways {
            switch settings.kind {
            case .webhook(let webhook):
                inboundSecrets[name] = (try (webhook.inbound?.secrets ?? []).map { try $0.resolve(environment: environment) },
                                        try (webhook.receipts?.signingSecrets ?? []).map { try $0.resolve(environment: environment) })
            case .smtp(let smtp):
                inboundSecrets[name] = (try (smtp.inbound?.secrets ?? []).map { try $0.resolve(environment: environment) }, [])
            default:
                continue
            }
        }
        self.inboundSecrets = inboundSecrets
        self.composer = try MessageComposer(templates: configuration.templates)
        self.links = LinkSigner(secret: try Self.linkSecret(configuration.settings.linkSecret, environment: environment),
                                publicURL: configuration.settings.publicURL)
    }

    /// Reads the link secret; a `file:` secret that does not exist yet is created with 256 random bits, mode 600 —
    /// exclusively, so instances starting together all read the one that was written first.
    static func linkSecret(_ reference: SecretReference, environment: [String: String]) throws -> String {
        if case .file(let path) = reference, !FileManager.default.fileExists(atPath: path) {
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            // Written whole beside it, then linked into place: link(2) refuses an existing name, so the first wins and
            // nobody ever reads a half-written secret.
            let draft = "\(path).\(getpid()).new"
            guard FileManager.default.createFile(atPath: draft, contents: Data(Data(bytes).base64EncodedString().utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ConfigProblem(file: "rom.yaml", line: nil, message: "cannot create the link secret \(path)", hint: "make its folder writable, or give link_secret as { env: NAME }")
            }
            _ = link(draft, path)
            unlink(draft)
        }
        return try reference.resolve(environment: environment)
    }

    /// The outbox worker over this environment's store, gateways and clock.
    public func outboxWorker(jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) -> OutboxWorker {
        OutboxWorker(store: store, gateways: gateways, composer: composer, pathways: configuration.pathways, links: links,
                     lease: TimeInterval(configuration.settings.dispatcherLease.seconds), dailyCap: configuration.settings.dailyCap,
                     batch: configuration.settings.dispatchBatch, concurrency: configuration.settings.dispatchConcurrency, clock: now, jitter: jitter, logger: logger)
    }
}

extension ServiceEnvironment {
    /// An environment for a one-shot command: its own metrics registry, a fixed or live clock.
    public static func command(configuration: Configuration, store: SQLStore, now: @escaping @Sendable () -> Date, logger: Logger) throws -> ServiceEnvironment {
        try ServiceEnvironment(configuration: configuration, store: store, now: now, metrics: PrometheusCollectorRegistry(), logger: logger)
    }
}

extension ServiceEnvironment {
    /// Processes a stored reply after its webhook has been answered, through the bounded queue. When the queue is full
    /// the reply stays stored as received: its id is remembered and worked when a worker has room, or past the
    /// overflow a catch-up pass finds it once the backlog is done (counted in `rom_reply_queue_full_total`).
    func processLater(replyID: String, _ body: @escaping @Sendable () async throws -> Void) {
        let logger = logger
        let env = self
        /// A failure leaves the reply stored and `received`: logged (its id and the error's type only), swept later.
        @Sendable func orLeaveForSweeper(_ id: String, _ work: () async throws -> Void) async {
            do {
                try await work()
            } catch {
                logger.error("stored reply not processed yet; the sweeper will retry", metadata: ["reply": "\(id)", "error": "\(String(describing: type(of: error)))"])
            }
        }
        let admission = background.start({ await orLeaveForSweeper(replyID, body) }, key: replyID, resume: { id in
            // Refused by the full queue, remembered, and now a worker has room: the stored reply, processed as the sweeper would.
            await orLeaveForSweeper(id) { _ = try await ReplyPipeline(env: env).reprocess(replyID: id, now: env.now()) }
        }, catchUp: {
            // More were refused than could be remembered: once the backlog is worked through, one pass over every reply
            // still stored as received (the sweeper's own pass; a reply raced by another worker is processed once).
            await orLeaveForSweeper("catch-up") { _ = try await ReplyPipeline(env: env).reprocessPending(now: env.now()) }
        })
        switch admission {
        case .queued: break
        case .remembered:
            metrics.makeCounter(descriptor: Metrics.replyQueueFull).increment()
        case .refused:
            metrics.makeCounter(descriptor: Metrics.replyQueueFull).increment()
            logger.warning("reply queue and its overflow full; a catch-up pass will process the stored reply once the backlog is worked through", metadata: ["reply": "\(replyID)"])
        }
    }
}

