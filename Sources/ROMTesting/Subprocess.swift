public import Foundation

/// A program the tests start: `rom` itself, Python fixtures.
public final class Subprocess: @unchecked Sendable {
    /// How a finished run ended and what it printed.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    /// The built `rom` executable (debug).
    public static var rom: String { "\(Fixtures.repositoryRoot)/.build/debug/rom" }

    /// Starts `executable` with `arguments`, this process's environment plus `environment`, and both outputs captured;
    /// `input`, when given, is its standard input (then closed).
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = output
        process.standardError = errors
        let stdin = input.map { _ in Pipe() }
        if let stdin { process.standardInput = stdin }
        try process.run()
        if let stdin, let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
    }

    public var pid: Int32 { process.processIdentifier }

    /// Waits for the end, reading both outputs as they come (a full pipe would stop the program). With `deadline`,
    /// a program still running then is killed (SIGKILL) first.
    public func finish(deadline: Date? = nil) -> Outcome {
        if let deadline {
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs to the end.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> Outcome {
        try Subprocess(executable, arguments, environment: environment, input: input).finish()
    }

    /// Runs to the end, waiting on a Dispatch thread rather than one of the two cooperative threads: a test that calls
    /// its own in-process server (curl, a browser) must not block the threads that server needs to answer.
    public static func runAsync(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Subprocess(executable, arguments, environment: environment).finish() })
            }
        }
    }
}
