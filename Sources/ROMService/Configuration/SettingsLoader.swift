import Foundation
import Intake
import Scheduling

/// Reads `config/rom.yaml` and applies environment overrides.
enum SettingsLoader {
    static func read(_ value: YAMLValue) -> ServiceSettings? {
        var settings = ServiceSettings.defaults
        guard let f = value.fields(["server", "database", "timezone", "scheduler", "dispatcher", "sweeper", "sessions",
                                    "retention", "crisis_text", "link_secret", "sms_replies", "teams", "security", "intake"], what: "rom.yaml") else { return nil }
        if let secret = f.optional("link_secret"), let reference = GatewayLoader.secret(secret) {
            settings.linkSecret = reference
        }
        if let server = f.optional("server")?.fields(["listen", "public_url"], what: "server") {
            if let listen = server.optional("listen"), let text = listen.string(what: "listen") {
                if let (host, port) = parseListen(text) {
                    settings.listenHost = host
                    settings.listenPort = port
                } else {
                    listen.problem("`\(text)` is not a listen address", hint: "write host:port, e.g. 127.0.0.1:8080")
                }
            }
            if let url = server.optional("public_url"), let text = url.string(what: "public_url") {
                if isHTTPURL(text) { settings.publicURL = trimSlash(text) } else {
                    url.problem("`\(text)` is not an http(s) URL", hint: "write the address people open, e.g. https://checkin.example.org")
                }
            }
        }
        if let database = f.optional("database"), let text = database.string(what: "database") {
            if isDatabaseURL(text) { settings.databaseURL = text } else {
                database.problem("`\(text)` is not a database URL", hint: "write sqlite:var/rom.sqlite or postgres://user@host/db")
            }
        }
        if let zone = f.optional("timezone"), let text = zone.string(what: "timezone") {
            if TimeZone(identifier: text) != nil { settings.defaultTimeZone = text } else {
                zone.problem("`\(text)` is not a time zone", hint: "use an IANA name such as Europe/London")
            }
        }
        if let scheduler = f.optional("scheduler")?.fields(["tick"], what: "scheduler"), let tick = scheduler.optional("tick")?.duration(what: "tick") {
            settings.schedulerTick = tick
        }
        if let dispatcher = f.optional("dispatcher")?.fields(["poll", "lease", "daily_cap", "concurrency", "passes", "batch", "receipt_timeout"], what: "dispatcher") {
            if let timeout = dispatcher.optional("receipt_timeout")?.duration(what: "receipt_timeout") { settings.receiptTimeout = timeout }
            if let concurrency = dispatcher.optional("concurrency")?.int(what: "concurrency", range: 1...64) { settings.dispatchConcurrency = concurrency }
            if let passes = dispatcher.optional("passes")?.int(what: "passes", range: 1...4) { settings.dispatchPasses = passes }
            if let batch = dispatcher.optional("batch")?.int(what: "batch", range: 1...5_000) { settings.dispatchBatch = batch }
            if let poll = dispatcher.optional("poll")?.duration(what: "poll") { settings.dispatcherPoll = poll }
            if let lease = dispatcher.optional("lease")?.duration(what: "lease") {
                if lease.seconds >= 35 { settings.dispatcherLease = lease } else {
                    dispatcher["lease"]?.problem("a lease of \(lease) is shorter than the longest send", hint: "use at least 35s (sends time out at 30s)")
                }
            }
            if let cap = dispatcher.optional("daily_cap")?.int(what: "daily_cap", range: 1...1_000) { settings.dailyCap = cap }
        }
        if let sweeper = f.optional("sweeper")?.fields(["interval"], what: "sweeper"), let interval = sweeper.optional("interval")?.duration(what: "interval") {
            settings.sweeperInterval = interval
        }
        if let sessions = f.optional("sessions")?.fields(["lifetime", "idle"], what: "sessions") {
            if let lifetime = sessions.optional("lifetime")?.duration(what: "lifetime") {
                if lifetime.seconds >= 300 && lifetime.seconds <= 7 * 86_400 { settings.sessionLifetime = lifetime } else {
                    sessions["lifetime"]?.problem("a session lifetime of \(lifetime) is outside 5m to 7d", hint: "12h is a working day")
                }
            }
            if let idle = sessions.optional("idle")?.duration(what: "idle") {
                if idle.seconds >= 60 && idle.seconds <= settings.sessionLifetime.seconds { settings.sessionIdle = idle } else {
                    sessions["idle"]?.problem("an idle timeout of \(idle) must be at least 1m and no longer than the lifetime (\(settings.sessionLifetime))",
                                              hint: "30m signs out an unattended screen")
                }
            }
        }
        if let retention = f.optional("retention")?.fields(["raw_replies", "outbox_payloads", "expired_tokens", "clinical"], what: "retention") {
            if let text = retention.optional("clinical")?.string(what: "clinical") { settings.retention.clinical = text }
            if let span = retention.optional("raw_replies")?.duration(what: "raw_replies") { settings.retention.rawReplies = span }
            if let span = retention.optional("outbox_payloads")?.duration(what: "outbox_payloads") { settings.retention.outboxPayloads = span }
            if let span = retention.optional("expired_tokens")?.duration(what: "expired_tokens") { settings.retention.expiredTokens = span }
        }
        if let security = f.optional("security")?.fields(["failed_attempts", "window", "trusted_proxies"], what: "security") {
            if let list = security.optional("trusted_proxies")?.list(what: "trusted_proxies") {
                for item in list {
                    guard let text = item.string(what: "a proxy address") else { continue }
                    if text.split(separator: ".").count == 4 && text.split(separator: ".").allSatisfy({ UInt8($0) != nil }) || (text.contains(":") && text.allSatisfy { $0.isHexDigit || $0 == ":" }) {
                        settings.trustedProxies.insert(text)
                    } else {
                        item.problem("`\(text)` is not an IP address", hint: "list the proxies' own addresses, e.g. [127.0.0.1, \"::1\"]")
                    }
                }
            }
            if let limit = security.optional("failed_attempts")?.int(what: "failed_attempts", range: 1...100_000) { settings.failedAttempts = limit }
            if let window = security.optional("window")?.duration(what: "window") { settings.failedAttemptWindow = window }
        }
        if let replies = f.optional("sms_replies")?.fields(["help", "how_to_answer"], what: "sms_replies") {
            if let text = replies.optional("help")?.string(what: "help") { settings.helpText = text }
            if let text = replies.optional("how_to_answer")?.string(what: "how_to_answer") { settings.howToAnswerText = text }
        }
        if let teams = f.optional("teams")?.mapping(what: "teams") {
            for (team, value) in teams {
                guard let fields = value.fields(["alert", "escalate"], what: "team \(team)"),
                      let alertNode = fields.required("alert", hint: "write alert: { gateway: NAME, to: ADDRESS }"),
                      let alert = alertNode.fields(["gateway", "to"], what: "alert"),
                      let gateway = alert.required("gateway")?.string(what: "gateway"), let to = alert.required("to")?.string(what: "to") else { continue }
                var route = ServiceSettings.TeamAlertSettings(gateway: gateway, to: to, escalateTo: nil, escalateAfter: nil, line: alertNode.line)
                if let escalate = fields.optional("escalate")?.fields(["to", "after"], what: "escalate") {
                    route.escalateTo = escalate.required("to", hint: "who hears when nobody acknowledges")?.string(what: "to")
                    route.escalateAfter = escalate.required("after", hint: "e.g. after: 30m")?.duration(what: "after")
                }
                settings.teams[team] = route
            }
        }
        if let teamsNode = f.optional("teams"), settings.teams["default"] == nil {
            teamsNode.problem("`teams` has no `default`: an urgent flag for a team not listed would reach nobody",
                              hint: "add `default: { alert: { gateway: NAME, to: ADDRESS } }` under teams")
        } else if f.optional("teams") == nil {
            value.problem("rom.yaml has no `teams`: urgent flags would reach nobody",
                          hint: "add `teams: { default: { alert: { gateway: NAME, to: ADDRESS } } }`")
        }
        if let intake = f.optional("intake")?.fields(["risk_phrases"], what: "intake"), let list = intake.optional("risk_phrases")?.list(what: "risk_phrases") {
            var phrases: [String] = []
            for item in list {
                guard let text = item.string(what: "a risk phrase") else { continue }
                if RiskPhrases.words(text).isEmpty {
                    item.problem("`\(text)` has no letters or digits to match", hint: "write the phrase as people would type it, e.g. \"end my life\"")
                } else {
                    phrases.append(text)
                }
            }
            settings.riskPhrases = RiskPhrases(phrases)
        }
        if let crisis = f.optional("crisis_text")?.string(what: "crisis_text") {
            settings.crisisText = crisis
        }
        return settings
    }

    /// `ROM_DATABASE_URL`, `ROM_LISTEN` and `ROM_PUBLIC_URL` win over the file.
    static func applyEnvironment(_ environment: [String: String], to settings: inout ServiceSettings, log: ProblemLog) {
        if let url = environment["ROM_DATABASE_URL"], !url.isEmpty {
            if isDatabaseURL(url) { settings.databaseURL = url } else {
                log.add("environment", nil, "ROM_DATABASE_URL is not a database URL", hint: "use sqlite:PATH or postgres://…")
            }
        }
        if let listen = environment["ROM_LISTEN"], !listen.isEmpty {
            if let (host, port) = parseListen(listen) {
                settings.listenHost = host
                settings.listenPort = port
            } else {
                log.add("environment", nil, "ROM_LISTEN `\(listen)` is not host:port", hint: "e.g. ROM_LISTEN=127.0.0.1:8080")
            }
        }
        if let url = environment["ROM_PUBLIC_URL"], !url.isEmpty {
            if isHTTPURL(url) { settings.publicURL = trimSlash(url) } else {
                log.add("environment", nil, "ROM_PUBLIC_URL is not an http(s) URL", hint: "e.g. ROM_PUBLIC_URL=https://checkin.example.org")
            }
        }
    }

    static func parseListen(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        return (host, port)
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else { return false }
        return true
    }

    static func isDatabaseURL(_ text: String) -> Bool {
        if text.hasPrefix("sqlite:") { return text.count > "sqlite:".count }
        return text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    private static func trimSlash(_ text: String) -> String {
        text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
