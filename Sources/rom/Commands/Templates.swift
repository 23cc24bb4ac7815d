import ArgumentParser
import Foundation
import ROMService

struct Templates: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check message templates.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render every message template with the longest values and check it.",
            discussion: """
            Fails when an SMS needs more than one segment (GSM-7 160, UCS-2 70; extension characters count two) or any
            message contains a word that could reveal mental-health care (PHQ, GAD, depress, anxiety, mental, score, …).
            """
        )

        @Option(name: .long, help: "Configuration folder.")
        var config: String = "config"

        func run() throws {
            let configuration: Configuration
            do {
                configuration = try Configuration.load(directory: config, environment: ProcessInfo.processInfo.environment)
            } catch {
                for problem in error.problems { print(problem.description) }
                throw ExitCode(1)
            }
            let report = TemplateCheck.run(configuration)
            for line in report.lines { print(line) }
            if !report.problems.isEmpty {
                for problem in report.problems { print("PROBLEM: \(problem)") }
                throw ExitCode(1)
            }
            print("Templates OK.")
        }
    }
}
