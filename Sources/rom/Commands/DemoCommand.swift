import ArgumentParser
import Foundation
import Logging
import ROMService
import Storage

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Seed synthetic people with months of history through the real scheduler, sandbox gateways and check-in.",
        discussion: """
        Creates demo01… (given names only, numbers in Ofcom's drama range, example.org addresses) on the shipped
        pathways, then replays every day from --days ago to --now: scheduler ticks, sends through the sandbox, and
        answers through the check-in form's scoring — some improve, some stay steady, one worsens (raising flags),
        some stop answering (missed check-ins, non-response flags). Also prints a clinician token for team north.
        Run it against a fresh database; people that already exist are skipped.
          rom demo && rom serve        (or: ROM_DEMO=1 scripts/run)
        """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "How many people.")
    var people = 12

    @Option(help: "How many days of history.")
    var days = 182

    @Option(help: "Random seed (the same seed gives the same history).")
    var seed: UInt64 = 1

    func run() async throws {
        guard (1...200).contains(people) else { throw ValidationError("--people must be 1…200") }
        guard (1...1_000).contains(days) else { throw ValidationError("--days must be 1…1000") }
        let configuration = try options.load()
        let now = try options.clock()()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        _ = try await store.migrate(now: now)
        // The demo dispatches through the sandbox: not beside a running `rom serve` on the same file.
        let lock = try store.dispatcherLock(holder: "rom demo")
        defer { withExtendedLifetime(lock) {} }
        let env = try ServiceEnvironment.command(configuration: configuration, store: store, now: { now }, logger: makeLogger(level: .warning))
        let summary = try await DemoSeeder(env: env).run(count: people, days: days, now: now, seed: seed)
        let secret = Credentials.newSecret(prefix: "rom_clinician")
        try await store.insertToken(id: "tok_" + newID(), hash: Credentials.hash(secret), role: .clinician, team: "north", label: "demo clinician",
                                   expiresAt: now.addingTimeInterval(90 * 86_400), now: now)
        try await store.close()
        print("""
        Seeded \(summary.people) people over \(summary.days) days: \(summary.messages) messages sent through the sandbox, \
        \(summary.answered) measures answered, \(summary.flags) flags.
        Clinician token for team north (shown once): \(secret)
        Sign in at \(configuration.settings.publicURL)/login, then open /clinician/flags and /clinician/people.
        """)
    }
}
