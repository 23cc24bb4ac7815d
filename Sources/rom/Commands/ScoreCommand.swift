import ArgumentParser
import Foundation
import Instruments
import ROMService

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score one set of answers with a versioned instrument definition.",
        discussion: """
        Answers are comma-separated in published item order; `-` or an empty field means unanswered.
        Instruments: phq9 gad7 phq2 gad2 core10 k10 wsas swemwbs dialog goals (from config/instruments).
        Bad input exits 65 and names the item; with --format json it prints {"error": {"code", "message"}}.
        Examples:
          rom score --instrument phq9 --answers 1,2,0,3,1,0,2,1,0
          rom score --instrument phq9 --answers 0,1,0,1,0,0,1,0,0 --baseline 2,2,2,2,2,2,2,2,0 \\
                    --paired-answers 1,0,1,0,1,0,0 --paired-baseline 2,2,2,2,1,1,1
          rom score --instrument wsas --answers -,2,4,1,0 --context work_not_applicable=true
        """
    )

    @Option(name: .long, help: "Configuration folder.")
    var config: String = "config"

    @Option(help: "Instrument id, e.g. phq9.")
    var instrument: String

    @Option(parsing: .unconditional, help: "Answers, comma-separated; - for unanswered (a leading - is an answer, not an option).")
    var answers: String

    @Option(parsing: .unconditional, help: "Baseline answers to compare with.")
    var baseline: String?

    @Option(help: "Context as key=value, e.g. work_not_applicable=true (repeatable).")
    var context: [String] = []

    @Option(parsing: .unconditional, help: "For phq9/gad7: the other measure's answers, for the NHS Talking Therapies paired classification.")
    var pairedAnswers: String?

    @Option(parsing: .unconditional, help: "For phq9/gad7: the other measure's baseline answers.")
    var pairedBaseline: String?

    @Option(help: "json or text.")
    var format: String = "json"

    func run() throws {
        guard format == "json" || format == "text" else { throw ValidationError("--format must be json or text") }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(directory: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            for problem in error.problems { printError(problem.description) }
            throw ExitCode(1)
        }
        do {
            let output = try Scoring.score(catalog: configuration.instruments, instrument: instrument, answers: answers, baseline: baseline,
                                           context: context, pairedAnswers: pairedAnswers, pairedBaseline: pairedBaseline)
            if format == "json" {
                print(String(decoding: try Scoring.encoder().encode(output), as: UTF8.self))
            } else {
                print(Scoring.text(output))
            }
        } catch let error as ScoringError {
            if format == "json" {
                let body = ["error": ["code": error.code, "message": error.description]]
                print(String(decoding: try Scoring.encoder().encode(body), as: UTF8.self))
            } else {
                printError("\(error.code): \(error.description)")
            }
            throw ExitCode(65)
        }
    }
}
