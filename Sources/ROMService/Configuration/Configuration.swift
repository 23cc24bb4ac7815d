public import Delivery
public import Instruments
public import Scheduling
public import Foundation
public import Storage
public import Intake
import Mustache

/// Everything an ops person configures, read once from `config/` and validated as a whole.
public struct Configuration: Sendable {
    public var directory: String
    public var settings: ServiceSettings
    public var instruments: InstrumentCatalog
    public var pathways: [String: Pathway]
    public var gateways: [String: GatewaySettings]
    /// Template name (file name without `.mustache`) → source text.
    public var templates: [String: String]

    /// Loads and checks `directory`; throws every problem found, each with file, line and a fix.
    ///
    /// `environment` supplies `ROM_DATABASE_URL`, `ROM_LISTEN` and `ROM_PUBLIC_URL` overrides.
    public static func load(directory: String, environment: [String: String]) throws(ConfigErrors) -> Configuration {
        let log = ProblemLog()
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigErrors(problems: [ConfigProblem(file: base, line: nil, message: "configuration directory not found",
                                                        hint: "pass --config DIR pointing at a folder like the repository's config/")])
        }
        let display = { (name: String) in "\(base)/\(name)" }

        var settings = YAMLValue.load(path: display("rom.yaml"), displayName: display("rom.yaml"), log: log)
            .flatMap(SettingsLoader.read) ?? ServiceSettings.defaults
        SettingsLoader.applyEnvironment(environment, to: &settings, log: log)

        let definitions = InstrumentLoader.loadDirectory(display("instruments"), displayPrefix: display("instruments"), log: log)
        let catalog = InstrumentCatalog(definitions)

        let gatewayFile = YAMLValue.load(path: display("gateways.yaml"), displayName: display("gateways.yaml"), log: log)
        let gateways = gatewayFile.map { GatewayLoader.read($0) } ?? [:]

        let pathwayFile = YAMLValue.load(path: display("pathways.yaml"), displayName: display("pathways.yaml"), log: log)
        let pathways = pathwayFile.map {
            PathwayLoader.read($0, instruments: catalog, gateways: gateways, defaultTimeZone: settings.defaultTimeZone)
        } ?? [:]

        let templates = loadTemplates(display("templates"), log: log)
        for name in ["review_html", "review_md"] where templates[name] == nil && FileManager.default.fileExists(atPath: display("templates")) {
            log.add(display("templates/\(name).mustache"), nil, "the review pack template is missing",
                    hint: "copy \(name).mustache from the repository's config/templates and restyle it")
        }

        for (team, alert) in settings.teams.sorted(by: { $0.key < $1.key }) {
            guard let gateway = gateways[alert.gateway] else {
                log.add(display("rom.yaml"), alert.line, "team `\(team)` sends alerts through gateway `\(alert.gateway)`, which is not in gateways.yaml",
                        hint: "use one of: \(gateways.keys.sorted().joined(separator: ", "))")
                continue
            }
            for address in [alert.to] + (alert.escalateTo.map { [$0] } ?? []) {
                let fits = gateway.channel == .email ? address.contains("@") : address.hasPrefix("+")
                if !fits {
                    log.add(display("rom.yaml"), alert.line, "team `\(team)`: `\(address)` is not an \(gateway.channel.rawValue) address for gateway `\(alert.gateway)`",
                            hint: gateway.channel == .email ? "write an email address" : "write a number in E.164 form, e.g. +447700900123")
                }
            }
        }

        if !log.problems.isEmpty {
            throw ConfigErrors(problems: log.problems)
        }
        return Configuration(directory: base, settings: settings, instruments: catalog, pathways: pathways,
                             gateways: gateways, templates: templates)
    }

    private static func loadTemplates(_ directory: String, log: ProblemLog) -> [String: String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            log.add(directory, nil, "templates folder not found", hint: "create it with the .mustache templates from the repository's config/templates")
            return [:]
        }
        var templates: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".mustache") {
            let path = "\(directory)/\(name)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                log.add(path, nil, "cannot read the template", hint: "save it as UTF-8 text")
                continue
            }
            do {
                _ = try MustacheTemplate(string: text)
                templates[String(name.dropLast(".mustache".count))] = text
            } catch let error as MustacheTemplate.ParserError {
                log.add(path, error.context.lineNumber, "template does not parse: \(error.error)",
                        hint: "check that every {{#section}} has a matching {{/section}} and tags are closed with }}")
            } catch {
                log.add(path, nil, "template does not parse: \(error)")
            }
        }
        return templates
    }
}

/// `config/rom.yaml`: where the service listens, its database, time zone default and retention.
public struct ServiceSettings: Sendable, Equatable {
    public var listenHost: String
    public var listenPort: Int
    /// The base of every link the service sends, e.g. `https://checkin.example.nhs.uk`.
    public var publicURL: String
    /// `sqlite:var/rom.sqlite` or `postgres://…`.
    public var databaseURL: String
    public var defaultTimeZone: String
    public var schedulerTick: TimeSpan
    public var dispatcherPoll: TimeSpan
    public var sweeperInterval: TimeSpan
    /// How long a signed-in browser session lasts at most (`sessions.lifetime`, 12h).
    public var sessionLifetime: TimeSpan
    /// A session unused for this long ends (`sessions.idle`, 30m).
    public var sessionIdle = TimeSpan.minutes(30)
    public var retention: Retention
    /// Shown on every check-in confirmation page.
    public var crisisText: String
    /// Signs check-in and unsubscribe links; a `file:` secret is created on first use.
    public var linkSecret: SecretReference
    /// How long a claimed outbox row is held before another dispatcher may take it over.
    public var dispatcherLease: TimeSpan
    /// Most messages one person receives in 24 hours; more wait.
    public var dailyCap: Int
    /// Sends in flight at once per dispatcher.
    public var dispatchConcurrency = 16
    /// Dispatch passes run side by side, so one prepares and sends while the other waits on the database.
    public var dispatchPasses = 2
    /// Messages (outbox rows) one claim takes at most. Smaller batches spread the work of
    /// several dispatchers on PostgreSQL more evenly; larger ones write less per message.
    public var dispatchBatch = 1_000
    /// SMS auto-replies: to HELP, and to a reply that could not be read. Never clinical.
    public var helpText = "This number sends check-in reminders from your care team. Reply STOP to stop them. In an emergency call 999."
    public var howToAnswerText = "Sorry, we could not read that. Reply with the code and your answers as numbers, e.g. P7 1 2 0 3, or use the link we sent."
    /// How long an accepted message waits for its delivery receipt before it counts as `unknown` (R18).
    public var receiptTimeout = TimeSpan.hours(48)
    /// Failed credential attempts (unknown links, refused tokens, sign-ins, signatures) one address may make within
    /// `failedAttemptWindow` before it gets 429 (R30).
    public var failedAttempts = 20
    public var failedAttemptWindow = TimeSpan.minutes(10)
    /// Reverse proxies whose `X-Forwarded-For` is believed (`security.trusted_proxies`); from anyone else it is ignored.
    public var trustedProxies: Set<String> = []
    /// Team name (or `default`) → where its urgent flags are sent. `default` is required: an urgent flag must always
    /// have somewhere to go.
    public var teams: [String: TeamAlertSettings] = [:]
    /// Phrases in free-text replies that raise an urgent `free_text_risk` flag at once (`intake.risk_phrases`).
    public var riskPhrases = RiskPhrases(RiskPhrases.defaults)

    /// Where a team's urgent flags go, as written in rom.yaml (checked against the gateways after loading).
    public struct TeamAlertSettings: Sendable, Equatable {
        public var gateway: String
        public var to: String
        public var escalateTo: String?
        public var escalateAfter: TimeSpan?
        /// Line in rom.yaml, for problems found once the gateways are known.
        public var line: Int?
    }

    /// How long operational data is kept; clinical records follow the records code, not these.
    public struct Retention: Sendable, Equatable {
        public var rawReplies: TimeSpan
        public var outboxPayloads: TimeSpan
        public var expiredTokens: TimeSpan
        /// What the records code requires of clinical records (documentation: nothing deletes them automatically).
        public var clinical = "20 years after care ends, or 8 years after death (NHS Records Management Code of Practice 2021, mental health records)"

        /// The instants before which each kind of operational data goes.
        public func cutoffs(now: Date) -> PurgeCutoffs {
            PurgeCutoffs(rawReplies: now.addingTimeInterval(-TimeInterval(rawReplies.seconds)),
                         outboxPayloads: now.addingTimeInterval(-TimeInterval(outboxPayloads.seconds)),
                         expiredTokens: now.addingTimeInterval(-TimeInterval(expiredTokens.seconds)),
                         webhookTokens: now.addingTimeInterval(-86_400))
        }

        public init(rawReplies: TimeSpan, outboxPayloads: TimeSpan, expiredTokens: TimeSpan) {
            self.rawReplies = rawReplies
            self.outboxPayloads = outboxPayloads
            self.expiredTokens = expiredTokens
        }
    }

    public static let defaults = ServiceSettings(
        listenHost: "127.0.0.1", listenPort: 8080, publicURL: "http://127.0.0.1:8080",
        databaseURL: "sqlite:var/rom.sqlite", defaultTimeZone: "Europe/London",
        schedulerTick: .minutes(1), dispatcherPoll: TimeSpan(seconds: 5), sweeperInterval: .minutes(10),
        sessionLifetime: .hours(12),
        retention: Retention(rawReplies: .days(90), outboxPayloads: .days(90), expiredTokens: .days(30)),
        crisisText: "If you feel you might harm yourself or you are in crisis, call 999 or NHS 111 (option 2), or text SHOUT to 85258.",
        linkSecret: .file("var/link-secret"), dispatcherLease: TimeSpan(seconds: 60), dailyCap: 10
    )
}
