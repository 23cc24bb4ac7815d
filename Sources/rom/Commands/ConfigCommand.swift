import ArgumentParser
import Foundation
import Instruments
import ROMService

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Work with the configuration.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every file in the configuration folder and report all problems at once.",
            discussion: "Each problem names its file and line and says how to fix it. Exits 0 when the configuration is usable, 1 otherwise."
        )

        @Option(name: .long, help: "Configuration folder.")
        var config: String = "config"

        func run() throws {
            do {
                let loaded = try Configuration.load(directory: config, environment: ProcessInfo.processInfo.environment)
                print("\(config): OK — \(loaded.instruments.ids.count) instruments, \(loaded.pathways.count) pathways, \(loaded.gateways.count) gateways, \(loaded.templates.count) templates")
            } catch {
                for problem in error.problems { print(problem.description) }
                print("\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s") found.")
                throw ExitCode(1)
            }
        }
    }
}
