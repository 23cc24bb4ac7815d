import ArgumentParser
import Foundation
import Logging
import ROMService

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration folder.")
    var config: String = "config"

    @Option(name: .long, help: "Pretend it is this instant (ISO-8601, e.g. 2026-11-30T09:00:00Z).")
    var now: String?

    /// The clock: fixed when --now is given.
    func clock() throws -> @Sendable () -> Date {
        guard let now else { return { Date() } }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var parsed = formatter.date(from: now)
        if parsed == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            parsed = formatter.date(from: now)
        }
        guard let fixed = parsed else {
            throw ValidationError("--now `\(now)` is not an ISO-8601 instant; write e.g. 2026-11-30T09:00:00Z")
        }
        return { fixed }
    }

    /// Loads the configuration, printing every problem and exiting 1 when it is broken.
    func load() throws -> Configuration {
        do {
            return try Configuration.load(directory: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            for problem in error.problems { printError(problem.description) }
            printError("\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s") in \(config); fix them and run `rom config check`.")
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Installs the stderr log handler exactly once per process (swift-log allows one bootstrap).
private let loggingBootstrap: Void = LoggingSystem.bootstrap { label in
    StreamLogHandler.standardError(label: label)
}

/// Logs go to stderr as `key=value` metadata; they never carry personal data.
func makeLogger(level: Logger.Level = .info) -> Logger {
    _ = loggingBootstrap
    var logger = Logger(label: "rom")
    logger.logLevel = level
    return logger
}
