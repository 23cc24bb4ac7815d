import ArgumentParser
import Foundation
import Logging
import Instruments
import ROMService
import Storage

struct Rescore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute stored scores with the current definition version, keeping the old ones.",
        discussion: "Scores made with another version of the definition are re-scored; each old score is kept and marked superseded. Prints what changed."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "Instrument id, e.g. phq9.")
    var instrument: String

    @Option(help: "json or text.")
    var format: String = "text"

    func run() async throws {
        let configuration = try options.load()
        let store = try await SQLStore.open(url: configuration.settings.databaseURL, logger: makeLogger(level: .warning))
        try await store.checkReady()
        let report: Rescoring.Report
        do {
            report = try await Rescoring.run(store: store, catalog: configuration.instruments, instrument: instrument, now: try options.clock()())
        } catch let error as ScoringError {
            try await store.close()
            printError("\(error.code): \(error.description)")
            throw ExitCode(65)
        }
        try await store.close()
        if format == "json" {
            print(String(decoding: try Scoring.encoder().encode(report), as: UTF8.self))
            return
        }
        print("\(report.instrument) v\(report.version): \(report.examined) current scores, \(report.rescored) re-scored, \(report.changed.count) changed.")
        for change in report.changed {
            print("  response \(change.responseID): \(change.fromTotal.map { "\($0)" } ?? "-") \(change.fromBand ?? "") (v\(change.fromVersion)) → \(change.toTotal.map { "\($0)" } ?? "-") \(change.toBand ?? "") (v\(change.toVersion))")
        }
        for failure in report.failed { printError("  could not re-score \(failure)") }
    }
}
