import Foundation
import Intake
import ROMService
import ROMTesting
import Scheduling
import Testing

/// Configs broken the way new users break them: every problem is reported at once, with file, line and a fix.
@Suite("rom config check")
struct ConfigCheckTests {
    func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func problems(_ directory: String, environment: [String: String] = [:]) -> [ConfigProblem] {
        do {
            _ = try Configuration.load(directory: directory, environment: environment)
            return []
        } catch {
            return error.problems
        }
    }

    @Test("The shipped configuration is valid")
    func shippedIsValid() throws {
        let configuration = try Fixtures.shippedConfiguration()
        #expect(configuration.pathways["community"]?.measures == ["phq9", "gad7", "goals"])
        #expect(configuration.gateways["sandbox-sms"] != nil)
        #expect(configuration.settings.databaseURL == "sqlite:var/rom.sqlite")
    }

    @Test("Urgent alerts must always have a route: teams without `default`, or no teams at all, fail with the line and the fix")
    func defaultTeamRequired() throws {
        let config = try Fixtures.copyOfConfig()
        let shipped = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        let start = try #require(shipped.range(of: "\nteams:"))
        try write(String(shipped[..<start.lowerBound]) + "\nteams:\n  north:\n    alert: { gateway: sandbox-email, to: north@example.nhs.uk }\n", to: "\(config)/rom.yaml")
        let noDefault = problems(config)
        #expect(noDefault.contains { $0.message.contains("has no `default`") && $0.hint.contains("default:") && $0.line != nil }, "\(noDefault)")
        try write(String(shipped[..<start.lowerBound]) + "\n", to: "\(config)/rom.yaml")
        #expect(problems(config).contains { $0.message.contains("no `teams`") })
    }

    @Test("Delivery receipts without signing secrets fail the check: anyone could mark messages delivered or failed")
    func unsignedReceipts() throws {
        let config = try Fixtures.copyOfConfig()
        try write("""
            gateways:
              sandbox-sms: { kind: sandbox, channel: sms }
              sandbox-email: { kind: sandbox, channel: email }
              provider:
                kind: webhook
                channel: sms
                url: https://sms.example.org/send
                body: '{"to": "{{to}}", "text": "{{text}}"}'
                receipts:
                  id_field: MessageSid
                  status_field: MessageStatus
                  map: { delivered: delivered }
            """, to: "\(config)/gateways.yaml")
        let found = problems(config)
        #expect(found.contains { $0.message.contains("receipts have no signing_secrets") && $0.line == 10 && $0.hint.contains("signature: twilio") }, "\(found)")
    }

    @Test("check_in.grace is read, defaults to 72h, and more than two weeks is refused with a hint")
    func grace() throws {
        #expect(try Fixtures.shippedConfiguration().pathways["community"]?.checkIn.grace == .hours(72))
        let config = try Fixtures.copyOfConfig()
        var pathways = try String(contentsOfFile: "\(config)/pathways.yaml", encoding: .utf8)
        pathways = pathways.replacingOccurrences(of: "reminders: [2d], grace: 72h }", with: "reminders: [2d], grace: 3w }")
        try write(pathways, to: "\(config)/pathways.yaml")
        #expect(problems(config).contains { $0.message.contains("grace of 3w") || $0.message.contains("grace of 21d") })
    }

    @Test("sessions: lifetime 12h and idle 30m are read; an idle timeout longer than the lifetime is refused with its line")
    func sessions() throws {
        let shipped = try Fixtures.shippedConfiguration().settings
        #expect(shipped.sessionLifetime == .hours(12) && shipped.sessionIdle == .minutes(30))
        let config = try Fixtures.copyOfConfig()
        var rom = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        rom = rom.replacingOccurrences(of: "  idle: 30m ", with: "  idle: 13h ")
        try write(rom, to: "\(config)/rom.yaml")
        let line = rom.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("  idle: 13h") }.map { $0 + 1 }
        #expect(problems(config).contains { $0.message.contains("idle timeout of 13h") && $0.line == line })
    }

    @Test("intake.risk_phrases replaces the default list; a phrase with no letters is refused")
    func riskPhrases() throws {
        let config = try Fixtures.copyOfConfig()
        var rom = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        let start = try #require(rom.range(of: "  risk_phrases:"))
        let end = try #require(rom.range(of: "\nteams:"))
        rom.replaceSubrange(start.lowerBound..<end.lowerBound, with: "  risk_phrases: [\"on the bridge\", \"!!!\"]")
        try write(rom, to: "\(config)/rom.yaml")
        #expect(problems(config).contains { $0.message.contains("`!!!` has no letters") })
        rom = rom.replacingOccurrences(of: ", \"!!!\"", with: "")
        try write(rom, to: "\(config)/rom.yaml")
        let loaded = try Configuration.load(directory: config, environment: [:])
        #expect(loaded.settings.riskPhrases.phrases == ["on the bridge"])
        #expect(loaded.settings.riskPhrases.firstMatch(in: "I'm ON THE bridge now") == "on the bridge")
    }

    @Test("A team alert through a gateway that does not exist, or to a phone number on an email gateway, is reported at the team's line")
    func teamAlerts() throws {
        let config = try Fixtures.copyOfConfig()
        var rom = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        rom = rom.replacingOccurrences(of: "alert: { gateway: sandbox-email, to: duty-team@example.nhs.uk }", with: "alert: { gateway: sandbox-mail, to: duty-team@example.nhs.uk }")
        rom += "  east:\n    alert: { gateway: sandbox-email, to: \"+447700900123\" }\n"
        try write(rom, to: "\(config)/rom.yaml")
        let found = problems(config)
        let lines = rom.split(separator: "\n", omittingEmptySubsequences: false)
        let defaultLine = (lines.firstIndex { $0.contains("sandbox-mail") } ?? 0) + 1
        let eastLine = (lines.firstIndex { $0.contains("+447700900123") } ?? 0) + 1
        #expect(found.contains { $0.message.contains("gateway `sandbox-mail`, which is not in gateways.yaml") && $0.line == defaultLine }, "\(found)")
        #expect(found.contains { $0.message.contains("`+447700900123` is not an email address") && $0.line == eastLine })
        #expect(found.count == 2, "\(found)")
    }

    @Test("Four mistakes in pathways.yaml — an unknown instrument, `4 weks`, a missing gateway — and a badly indented gateways.yaml are all reported with file and line")
    func brokenLikeANewUser() throws {
        let config = try Fixtures.copyOfConfig()
        try write("""
        pathways:
          community:
            cadence: { routine: 4 weks, step_up: 7d }
            measures: [phq9, phq-9, gad7]
            check_in: { opens: 5d, closes: 1d, reminders: [2d] }
            channels: [sms]
            gateways: { sms: twilio }
        """, to: "\(config)/pathways.yaml")
        let found = problems(config)
        let pathways = found.filter { $0.file.hasSuffix("pathways.yaml") }
        #expect(pathways.contains { $0.line == 3 && $0.message.contains("`4 weks` is not a duration") && $0.hint.contains("28d") })
        #expect(pathways.contains { $0.line == 4 && $0.message.contains("unknown instrument `phq-9`") && $0.hint.contains("phq9") })
        #expect(pathways.contains { $0.line == 7 && $0.message.contains("gateway `twilio` does not exist") })

        try write("gateways:\n  sandbox-sms:\n    kind: sandbox\n   channel: sms\n", to: "\(config)/gateways.yaml")
        let indentation = problems(config).filter { $0.file.hasSuffix("gateways.yaml") }
        #expect(indentation.count == 1)
        #expect(indentation.first?.line == 4)
        #expect(indentation.first?.message.contains("not valid YAML") == true)
        #expect(indentation.first?.hint.contains("indentation") == true)
    }

    @Test("An unknown key gets a did-you-mean hint at its line")
    func unknownKey() throws {
        let config = try Fixtures.copyOfConfig()
        var text = try String(contentsOfFile: "\(config)/pathways.yaml", encoding: .utf8)
        text = text.replacingOccurrences(of: "    send_window: \"09:00-19:00\"                              # in the person's own time zone",
                                         with: "    sendwindow: \"09:00-19:00\"")
        try write(text, to: "\(config)/pathways.yaml")
        let found = problems(config)
        #expect(found.contains { $0.line == 8 && $0.message == "unknown key `sendwindow`" && $0.hint.contains("did you mean `send_window`") })
    }

    @Test("An instrument definition with overlapping bands, a missing reverse item and options out of order is refused with lines")
    func inconsistentDefinition() throws {
        let config = try Fixtures.copyOfConfig()
        try write("""
        id: broken
        version: "1"
        title: Broken
        licence: { holder: x, terms: x, attribution: x, item_text: shipped }
        direction: higher_is_worse
        options:
          - { value: 0, label: a }
          - { value: 2, label: b }
          - { value: 1, label: c }
        items:
          - { id: "1", text: one }
          - { id: "2", text: two }
        reverse_items: [3]
        missing: { max_missing: 0, method: none, rounding: none }
        total: { kind: sum }
        bands:
          - { id: low, label: Low, min: 0 }
          - { id: high, label: High, min: 3 }
          - { id: mid, label: Mid, min: 2 }
        """, to: "\(config)/instruments/broken.yaml")
        let found = problems(config).filter { $0.file.hasSuffix("broken.yaml") }
        #expect(found.contains { $0.line == 9 && $0.message.contains("option value 1 is not above") })
        #expect(found.contains { $0.line == 13 && $0.message.contains("reverse item 3 does not exist") })
        #expect(found.contains { $0.line == 19 && $0.message.contains("overlapping") })
    }

    @Test("A secret written inline in gateways.yaml is refused")
    func inlineSecret() throws {
        let config = try Fixtures.copyOfConfig()
        try write("""
        gateways:
          sandbox-sms: { kind: sandbox, channel: sms }
          sandbox-email: { kind: sandbox, channel: email }
          sms:
            kind: webhook
            channel: sms
            url: https://sms.example.com/send
            body: '{"to": "{{to}}"}'
            auth: { bearer: abc123 }
        """, to: "\(config)/gateways.yaml")
        let found = problems(config)
        #expect(found.contains { $0.line == 9 && $0.message.contains("secrets are not written in config files") })
    }

    @Test("ROM_DATABASE_URL, ROM_LISTEN and ROM_PUBLIC_URL override rom.yaml; bad values are problems")
    func environmentOverrides() throws {
        let loaded = try Configuration.load(directory: Fixtures.configDirectory, environment: [
            "ROM_DATABASE_URL": "sqlite:/tmp/other.sqlite", "ROM_LISTEN": "0.0.0.0:9090", "ROM_PUBLIC_URL": "https://checkin.example.org/",
        ])
        #expect(loaded.settings.databaseURL == "sqlite:/tmp/other.sqlite")
        #expect(loaded.settings.listenPort == 9090)
        #expect(loaded.settings.publicURL == "https://checkin.example.org")
        #expect(problems(Fixtures.configDirectory, environment: ["ROM_LISTEN": "nowhere"]).contains { $0.message.contains("ROM_LISTEN") })
    }

    @Test("A missing folder is one clear problem")
    func missingFolder() {
        let found = problems("/nonexistent/config")
        #expect(found.count == 1)
        #expect(found.first?.hint.contains("--config") == true)
    }
}
