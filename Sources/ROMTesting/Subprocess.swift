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

extension Subprocess {
    /// `rom serve` that did not answer `/healthz` in any of its tries; what it printed on each.
    public struct ServeDidNotStart: Error, CustomStringConvertible {
        public var stderr: String
        public var description: String { "rom serve did not start:\n\(stderr)" }
    }

    /// Starts `rom serve` with `arguments` on a fresh port and waits until `/healthz` answers 200 (up to 20 s a try);
    /// if it exits first (the port was taken, say), tries again on another port, three times in all. Ports come from
    /// below Linux's ephemeral range (32768 and up), so no outgoing connection of another test holds one. Sets
    /// `ROM_LISTEN` and `ROM_PUBLIC_URL`; returns the running process and its base URL.
    public static func serve(_ arguments: [String], environment: [String: String]) async throws -> (Subprocess, String) {
        var failures: [String] = []
        for _ in 0..<3 {
            let port = Int.random(in: 20_000...32_700)
            let base = "http://127.0.0.1:\(port)"
            let serve = try Subprocess(rom, ["serve"] + arguments,
                                       environment: environment.merging(["ROM_LISTEN": "127.0.0.1:\(port)", "ROM_PUBLIC_URL": base]) { $1 })
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && serve.process.isRunning {
                let probe = try await runAsync("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1", "\(base)/healthz"])
                if probe.stdout == "200" { return (serve, base) }
                try await Task.sleep(for: .milliseconds(20))
            }
            kill(serve.pid, SIGKILL)
            failures.append("port \(port): " + String(serve.finish().stderr.suffix(1_000)))
        }
        throw ServeDidNotStart(stderr: failures.joined(separator: "\n---\n"))
    }
}
