import Foundation
import Intake
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ROMService
import Storage
import ROMTesting
import Testing

/// Runs the built `rom` executable the way ops staff do.
@Suite("rom command line", .serialized)
struct CommandLineTests {
    @discardableResult
    func rom(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> Subprocess.Outcome {
        try Subprocess.run(Subprocess.rom, arguments, environment: environment, input: input)
    }

    @Test("rom tokens: create with an expiry (90d by default), list without secrets, revoke; a revoked or expired token is refused at once")
    func tokens() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let environment = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        let config = Fixtures.configDirectory
        #expect(try rom(["migrate", "--config", config], environment: environment).status == 0)
        let created = try rom(["tokens", "create", "--role", "ops", "--label", "Dee (ops)", "--config", config, "--now", "2026-11-02T09:00:00Z"], environment: environment)
        #expect(created.status == 0, "\(created.stderr)")
        let secret = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(created.stderr.contains("expires 2027-01-31T09:00:00Z"), "90 days after 2 Nov 2026: \(created.stderr)")
        let short = try rom(["tokens", "create", "--role", "integration", "--expires", "1d", "--config", config, "--now", "2026-11-02T09:00:00Z"], environment: environment)
        #expect(short.status == 0)
        let bad = try rom(["tokens", "create", "--role", "ops", "--expires", "soon", "--config", config], environment: environment)
        #expect(bad.status != 0 && bad.stderr.contains("is not a duration"))

        let listed = try rom(["tokens", "list", "--format", "json", "--config", config, "--now", "2026-11-04T09:00:00Z"], environment: environment)
        #expect(listed.status == 0)
        #expect(!listed.stdout.contains(secret), "the secret is never shown again")
        let rows = try #require((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])?["tokens"] as? [[String: String]])
        #expect(Set(rows.map { $0["state"] ?? "" }) == ["active", "expired"], "the 1-day token has expired two days on")
        let ops = try #require(rows.first { $0["label"] == "Dee (ops)" })
        #expect(ops["last_used"] == "never" && ops["expires"] == "2027-01-31T09:00:00Z")

        // The live service refuses the expired one, accepts the other until it is revoked.
        let store = try await SQLStore.open(url: "sqlite:\(folder)/rom.sqlite", logger: .init(label: "test"))
        let now = ISO8601DateFormatter().date(from: "2026-11-04T09:00:00Z")!
        #expect(try await store.token(hash: Credentials.hash(secret), now: now)?.role == .ops)
        let expiredSecret = short.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await store.token(hash: Credentials.hash(expiredSecret), now: now) == nil)
        let revoked = try rom(["tokens", "revoke", try #require(ops["id"]), "--config", config], environment: environment)
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(try await store.token(hash: Credentials.hash(secret), now: now) == nil, "refused once revoked")
        let again = try rom(["tokens", "revoke", try #require(ops["id"]), "--config", config], environment: environment)
        #expect(again.status == 1 && again.stderr.contains("no active token"))
        try await store.close()
    }

    @Test("The shipped config passes rom config check and rom templates check (a newcomer runs them first)")
    func shippedChecks() throws {
        let config = try self.rom(["config", "check", "--config", Fixtures.configDirectory])
        #expect(config.status == 0, "\(config.stdout)\(config.stderr)")
        let templates = try self.rom(["templates", "check", "--config", Fixtures.configDirectory])
        #expect(templates.status == 0, "\(templates.stdout)\(templates.stderr)")
        #expect(!templates.stdout.contains("PROBLEM"))
    }

    @Test("rom score --answers -,1,0,… reads the leading - as an unanswered first item, not an option: 8 of 9 PHQ-9 items answered, prorated")
    func leadingDash() throws {
        let scored = try self.rom(["score", "--config", Fixtures.configDirectory, "--instrument", "phq9", "--answers", "-,1,0,1,0,0,1,0,0"])
        #expect(scored.status == 0, "\(scored.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(scored.stdout.utf8)) as? [String: Any])
        #expect(json["prorated"] as? Bool == true)
        #expect((json["explanation"] as? [String])?.contains("1 of 9 items unanswered; up to 2 may be missing.") == true)
        #expect(json["total"] as? Int == 3, "the 8 answered items sum to 3; prorated 3 × 9/8 = 3.375, rounded half up to 3")
    }

    @Test("rom demo, then rom review and rom report against its database: FHIR and CSV out, clear errors for a bad report or person")
    func demoReviewReport() throws {
        let folder = try Fixtures.temporaryDirectory()
        let config = try Fixtures.copyOfConfig()
        var rom = try String(contentsOfFile: "\(config)/rom.yaml", encoding: .utf8)
        rom = rom.replacingOccurrences(of: "link_secret: { file: var/link-secret }", with: "link_secret: { file: \(folder)/link-secret }")
        try rom.write(toFile: "\(config)/rom.yaml", atomically: true, encoding: .utf8)
        let environment = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        let now = "2026-11-24T12:00:00Z"
        let demo = try self.rom(["demo", "--config", config, "--people", "4", "--days", "120", "--now", now], environment: environment)
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("Seeded 4 people over 121 days"))
        let fhir = try self.rom(["review", "--config", config, "--person", "demo01", "--format", "fhir", "--now", now], environment: environment)
        #expect(fhir.status == 0, "\(fhir.stderr)")
        let bundle = try #require(try JSONSerialization.jsonObject(with: Data(fhir.stdout.utf8)) as? [String: Any])
        #expect(bundle["resourceType"] as? String == "Bundle" && bundle["type"] as? String == "collection")
        let csv = try self.rom(["report", "outcomes", "--config", config, "--format", "csv", "--now", now], environment: environment)
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout.hasPrefix("pathway,team,measure,people,reliable improvement,no reliable change,reliable deterioration,recovery,reliable recovery\n"))
        let rows = try self.rom(["report", "completeness", "--rows", "answered", "--config", config, "--format", "csv", "--now", now], environment: environment)
        #expect(rows.status == 0 && rows.stdout.hasPrefix("person,measure,kind,review,status,reason,message\n"))
        let bad = try self.rom(["report", "outcome", "--config", config], environment: environment)
        #expect(bad.status == 64 && bad.stderr.contains("completeness, outcomes or non-response"))
        let nobody = try self.rom(["review", "--config", config, "--person", "nobody", "--now", now], environment: environment)
        #expect(nobody.status != 0 && nobody.stderr.contains("no person `nobody`"))
        // An unmigrated database is a clear error, not a crash (the store used to trap when a command failed before closing it).
        let fresh = ["ROM_DATABASE_URL": "sqlite:\(folder)/empty.sqlite"]
        for command in [["report", "outcomes"], ["review", "--person", "demo01"], ["schedule"]] {
            let run = try self.rom(command + ["--config", config], environment: fresh)
            #expect(run.status == 1 && run.stderr.contains("run `rom migrate`") && !run.stderr.contains("crashed"), "\(command): \(run.stderr.prefix(300))")
        }
    }

    @Test("rom score prints the JSON fields and exits 65 with a coded error on bad input")
    func score() throws {
        let ok = try rom(["score", "--config", Fixtures.configDirectory, "--instrument", "phq9", "--answers", "1,2,0,3,1,0,2,1,0"])
        #expect(ok.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        for key in ["instrument", "version", "valid", "total", "band", "prorated", "caseness", "risk_flags", "baseline_total",
                    "score_change", "change", "recovered", "reliable_recovery", "explanation"] {
            #expect(json.keys.contains(key), "missing \(key)")
        }
        #expect(json["total"] as? Double == 10)
        #expect(json["band"] as? String == "moderate")
        let bad = try rom(["score", "--config", Fixtures.configDirectory, "--instrument", "phq9", "--answers", "1,2,0,3,1,0,2,1,0,1"])
        #expect(bad.status == 65)
        #expect(bad.stdout.contains("\"code\" : \"wrong_item_count\""))
        let text = try rom(["score", "--config", Fixtures.configDirectory, "--instrument", "gad7", "--answers", "1,x", "--format", "text"])
        #expect(text.status == 65)
        #expect(text.stderr.contains("non_integer: item 2"))
    }

    @Test("rom config check exits 1 and prints every problem with file:line")
    func configCheck() throws {
        let config = try Fixtures.copyOfConfig()
        try "pathways:\n  community:\n    cadence: { routine: 4 weks, step_up: 7d }\n    measures: [phq9]\n    check_in: { opens: 5d, closes: 1d }\n    channels: [sms]\n    gateways: { sms: nowhere }\n"
            .write(toFile: "\(config)/pathways.yaml", atomically: true, encoding: .utf8)
        let run = try rom(["config", "check", "--config", config])
        #expect(run.status == 1)
        #expect(run.stdout.contains("pathways.yaml:3: `4 weks` is not a duration"))
        #expect(run.stdout.contains("pathways.yaml:7: gateway `nowhere` does not exist"))
        #expect(try rom(["config", "check", "--config", Fixtures.configDirectory]).status == 0)
    }

    @Test("rom users: create with a password on stdin prints a TOTP URI that pyotp turns into codes we accept; create with a set-up link; list, reset --mfa, disable; clear errors")
    func users() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let environment = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        let config = ["--config", Fixtures.configDirectory]
        #expect(try rom(["migrate"] + config, environment: environment).status == 0)
        let created = try rom(["users", "create", "--email", "Dee@Example.org", "--role", "ops", "--password-stdin"] + config,
                              environment: environment, input: "plum orbit lantern 42\n")
        #expect(created.status == 0, "\(created.stderr)")
        let uri = try #require(created.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth URI: ") }.map { String($0.dropFirst("otpauth URI: ".count)) })
        #expect(uri.hasPrefix("otpauth://totp/rom:dee@example.org?secret="))
        let codes = created.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") }.map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(codes.count == 10 && codes.allSatisfy(StaffAuth.isRecoveryCode))
        #expect(created.stderr.contains("shown once"))

        // pyotp (an independent RFC 6238 implementation) reads the URI and makes the code we must accept.
        let pyotp = try Subprocess.run(Browser.pyenvPython, ["-c", "import pyotp, sys, time; print(pyotp.parse_uri(sys.argv[1]).at(int(sys.argv[2])))", uri, "1795510800"])
        #expect(pyotp.status == 0, "scripts/test installs pyotp into var/pyenv: \(pyotp.stderr)")
        let store = try await SQLStore.open(url: "sqlite:\(folder)/rom.sqlite", logger: Logger(label: "test"))
        let secret = try #require(try await store.user(email: "dee@example.org")?.totpSecret)
        let step = StaffAuth.matchingStep(code: pyotp.stdout.trimmingCharacters(in: .whitespacesAndNewlines), secret: secret,
                                          now: Date(timeIntervalSince1970: 1_795_510_800), after: 0)
        #expect(step == Int64(59_850_360), "pyotp's code for 1795510800 s is ours for its step (1795510800 / 30)")
        let sqlite = try String(contentsOfFile: "\(folder)/rom.sqlite", encoding: .isoLatin1)
        #expect(!sqlite.contains("plum orbit lantern") && !codes.contains { sqlite.contains($0) }, "neither the password nor a recovery code is stored")

        let linked = try rom(["users", "create", "--email", "nia@example.org", "--role", "clinician", "--team", "north"] + config, environment: environment)
        #expect(linked.status == 0 && linked.stdout.contains("http://127.0.0.1:8080/account/setup/setup_") && !linked.stdout.contains("otpauth"))
        #expect(try rom(["users", "create", "--email", "nia@example.org", "--role", "clinician", "--team", "north"] + config, environment: environment).stderr
            .contains("exists already"))
        #expect(try rom(["users", "create", "--email", "x@example.org", "--role", "clinician"] + config, environment: environment).stderr.contains("needs --team"))
        #expect(try rom(["users", "create", "--email", "x@example.org", "--role", "integration"] + config, environment: environment).status != 0)
        #expect(try rom(["users", "create", "--email", "x\r\n@example.org", "--role", "ops"] + config, environment: environment).stderr.contains("not an email address"))
        let weak = try rom(["users", "create", "--email", "y@example.org", "--role", "ops", "--password-stdin"] + config, environment: environment, input: "password\n")
        #expect(weak.status != 0 && weak.stderr.contains("at least 12 characters"))

        let listed = try rom(["users", "list", "--format", "json"] + config, environment: environment)
        let rows = try #require((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])?["users"] as? [[String: String]])
        #expect(rows.map { $0["email"] } == ["dee@example.org", "nia@example.org"])
        #expect(rows.map { $0["state"] } == ["active", "set-up pending"])
        #expect(rows.map { $0["mfa"] } == ["totp", "none"])
        #expect(!listed.stdout.contains(secret), "the list never shows a secret")

        try await store.insertSession(hash: "h", userID: try #require(try await store.user(email: "dee@example.org")?.id), stage: .signedIn, next: nil,
                                      now: Date(), expiresAt: Date().addingTimeInterval(3_600))
        let reset = try rom(["users", "reset", "--email", "dee@example.org", "--mfa"] + config, environment: environment)
        #expect(reset.status == 0 && reset.stdout.contains("otpauth://") && !reset.stdout.contains(uri))
        #expect(try await store.session(hash: "h", idle: 1_800, now: Date()) == nil, "a reset ends the account's sessions")
        #expect(try await store.user(email: "dee@example.org")?.passwordHash != nil, "--mfa alone keeps the password")
        #expect(try rom(["users", "disable", "--email", "dee@example.org"] + config, environment: environment).status == 0)
        let again = try rom(["users", "disable", "--email", "dee@example.org"] + config, environment: environment)
        #expect(again.status == 1 && again.stderr.contains("disabled already"))
        #expect(try await store.auditEvents(limit: 20).map(\.action).contains("user.disable"))
        try await store.close()
    }

    @Test("rom backup writes a checked copy and never overwrites one; rom restore --check reports integrity, schema and rows, and refuses a damaged file; rom purge --dry-run counts")
    func backupAndCheck() throws {
        let folder = try Fixtures.temporaryDirectory()
        let environment = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        let config = ["--config", Fixtures.configDirectory]
        #expect(try rom(["migrate"] + config, environment: environment).status == 0)
        try "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\n"
            .write(toFile: "\(folder)/people.csv", atomically: true, encoding: .utf8)
        #expect(try rom(["people", "import", "\(folder)/people.csv"] + config, environment: environment).status == 0)
        let backup = try rom(["backup", "\(folder)/b1.sqlite"] + config, environment: environment)
        #expect(backup.status == 0 && backup.stdout.contains("integrity ok"), "\(backup.stderr)")
        #expect(try rom(["backup", "\(folder)/b1.sqlite"] + config, environment: environment).stderr.contains("exists already"))
        let check = try rom(["restore", "\(folder)/b1.sqlite", "--check"])
        #expect(check.status == 0 && check.stdout.contains("integrity: ok") && check.stdout.contains("people: 1"))
        #expect(check.stdout.contains("schema: \(SQLStore.latestSchemaVersion)"))
        // A damaged copy: bytes in the middle overwritten.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/b1.sqlite"))
        let middle = bytes.count / 2
        bytes.replaceSubrange(middle..<(middle + 4096), with: Data(repeating: 0x5A, count: 4096))
        try bytes.write(to: URL(fileURLWithPath: "\(folder)/damaged.sqlite"))
        #expect(try rom(["restore", "\(folder)/damaged.sqlite", "--check"]).status != 0)
        let purge = try rom(["purge", "--dry-run", "--now", "2027-06-01T00:00:00Z"] + config, environment: environment)
        #expect(purge.status == 0 && purge.stdout.contains("would purge raw reply bodies: 0") && purge.stdout.contains("kept: clinical records (20 years"), "\(purge.stderr)")
    }

    @Test("migrate, tokens create, people import (all-or-nothing, then --partial) and rescore against one SQLite file")
    func workflow() throws {
        let folder = try Fixtures.temporaryDirectory()
        let env = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        let config = ["--config", Fixtures.configDirectory]
        #expect(try rom(["migrate"] + config, environment: env).status == 0)
        let token = try rom(["tokens", "create", "--role", "clinician", "--team", "north"] + config, environment: env)
        #expect(token.status == 0)
        #expect(token.stdout.hasPrefix("rom_clinician_"))
        #expect(try rom(["tokens", "create", "--role", "clinician"] + config, environment: env).status != 0, "a clinician token needs a team")
        let csv = "\(folder)/people.csv"
        try "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,,,community,2026-11-02,,north\np2,Ben,0770,,,community,2026-11-02,,north\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        let strict = try rom(["people", "import", csv] + config, environment: env)
        #expect(strict.status == 1)
        #expect(strict.stderr.contains("row 2 (line 3), column phone"))
        #expect(strict.stdout.contains("Nothing imported"))
        let partial = try rom(["people", "import", "--partial", csv] + config, environment: env)
        #expect(partial.status == 2)
        #expect(partial.stdout.contains("Imported 1 people"))
        let rescore = try rom(["rescore", "--instrument", "phq9"] + config, environment: env)
        #expect(rescore.status == 0)
        #expect(rescore.stdout.contains("0 current scores"))
        let sqlite = try String(contentsOfFile: "\(folder)/rom.sqlite", encoding: .isoLatin1)
        #expect(!sqlite.contains(token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "the token itself is never stored")
    }

    @Test("rom people export writes the record to a new file (never over one); rom people erase-contact says what it blanked; an unknown person exits 1")
    func exportAndErase() throws {
        let folder = try Fixtures.temporaryDirectory()
        let env = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        let config = ["--config", Fixtures.configDirectory, "--now", "2026-11-02T08:00:00Z"]
        #expect(try rom(["migrate"] + config, environment: env).status == 0)
        let csv = "\(folder)/people.csv"
        try "id,given_name,phone,email,timezone,pathway,start_date,clinician,team\np1,Ana,+447700900001,ana@example.org,,community,2026-11-02,,north\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        #expect(try rom(["people", "import", csv] + config, environment: env).status == 0)
        let file = "\(folder)/p1.json"
        let exported = try rom(["people", "export", "p1", "-o", file] + config, environment: env)
        #expect(exported.status == 0, "\(exported.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect((document["person"] as? [String: Any])?["phone"] as? String == "+447700900001")
        #expect((document["fhir"] as? [String: Any])?["resourceType"] as? String == "Bundle")
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600, "a record on disk is readable by its owner only")
        let twice = try rom(["people", "export", "p1", "-o", file] + config, environment: env)
        #expect(twice.status != 0 && twice.stderr.contains("exists"))
        let erased = try rom(["people", "erase-contact", "p1"] + config, environment: env)
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(erased.stdout.contains("Erased the contact details of p1: 2 addresses"), "\(erased.stdout)")
        let after = try rom(["people", "export", "p1"] + config, environment: env)
        #expect(after.status == 0 && !after.stdout.contains("447700900001") && after.stdout.contains("person.erase_contact"))
        let unknown = try rom(["people", "erase-contact", "nobody"] + config, environment: env)
        #expect(unknown.status == 1 && unknown.stderr.contains("no person `nobody`"))
    }

    @Test("rom serve answers /healthz and stops gracefully on SIGTERM")
    func serveLifecycle() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let env = ["ROM_DATABASE_URL": "sqlite:\(folder)/rom.sqlite"]
        #expect(try rom(["migrate", "--config", Fixtures.configDirectory], environment: env).status == 0)
        let (serve, base) = try await Subprocess.serve(["--config", Fixtures.configDirectory], environment: env)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/healthz")!)
        #expect(String(decoding: data, as: UTF8.self).contains("ok"))
        serve.process.terminate()
        let stopped = serve.finish()
        #expect(stopped.status == 0)
        #expect(stopped.stderr.contains("stopped"))
    }
}
