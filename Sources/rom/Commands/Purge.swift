import ArgumentParser
import Foundation
import Logging
import ROMService
import Storage

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply retention: delete operational data past `retention:` in rom.yaml, and say how much went.",
        discussion: """
        Raw reply bodies (once processed; inbox items once handled), outbox payloads and error text of finished messages,
        sandbox messages, check-in drafts, expired link tokens and remembered webhook tokens. Clinical records — prompts,
        responses, scores, flags, notes, reviews and the audit trail — are kept (retention.clinical). The running
        service does the same every few hours.
        """
    )

    @OptionGroup var options: CommonOptions

    @Flag(help: "Count what would go; change nothing.")
    var dryRun = false

    func run() async throws {
        let configuration = try options.load()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        try await store.checkReady()
        let now = try options.clock()()
        let counts = try await store.purge(configuration.settings.retention.cutoffs(now: now), dryRun: dryRun, now: now)
        try await store.close()
        for (kind, count) in counts.sorted(by: { $0.key < $1.key }) { print("\(dryRun ? "would purge" : "purged") \(kind): \(count)") }
        print("kept: clinical records (\(configuration.settings.retention.clinical))")
    }
}
