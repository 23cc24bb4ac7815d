public import Foundation
import Synchronization

/// A real peer process on 127.0.0.1 for integration tests; stopped with `stop()`.
public final class PeerProcess: @unchecked Sendable {
    public let port: Int
    public let folder: String
    private let process: Process

    /// Starts `script` with `arguments` (after its port file), waiting up to 10 s for it to write its port.
    init(interpreter: String, script: String, arguments: (String) -> [String]) throws {
        folder = try Fixtures.temporaryDirectory()
        let portFile = "\(folder)/port"
        process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = [script, portFile] + arguments(folder)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var port: Int?
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                port = value
                break
            }
            usleep(50_000)
        }
        guard let port else {
            process.terminate()
            throw PeerError(message: "\(script) did not start")
        }
        self.port = port
    }

    public func stop() {
        if process.isRunning {
            // SIGKILL: a fixture has nothing to flush, and aiosmtpd's threads can outlive SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

public struct PeerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The recording HTTP receiver (`Tests/Fixtures/http_receiver.py`).
public final class HTTPReceiver: Sendable {
    public let peer: PeerProcess
    public var port: Int { peer.port }
    public var url: String { "http://127.0.0.1:\(peer.port)/send" }
    private var log: String { "\(peer.folder)/requests.jsonl" }

    public init() throws {
        peer = try PeerProcess(interpreter: "/usr/bin/python3", script: "\(Fixtures.repositoryRoot)/Tests/Fixtures/http_receiver.py",
                               arguments: { ["\($0)/requests.jsonl"] })
    }

    /// One recorded request.
    public struct Request: Sendable {
        public var n: Int
        public var headers: [String: String]
        public var body: String
        public var mode: String
        /// When it arrived (seconds since 1970, the receiver's clock).
        public var at: Double
    }

    /// Switches how later requests are answered: ok, 429, 503, 400, hang, reset, cut, flaky:SEED, rate:N, kill:PIDFILE (see http_receiver.py).
    public func setMode(_ mode: String) throws {
        _ = try Subprocess.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-X", "POST", "--data", mode, "http://127.0.0.1:\(port)/_mode"])
    }

    /// Forgets what was received so far (the receiver appends to a fresh file).
    public func clear() {
        try? "".write(toFile: log, atomically: false, encoding: .utf8)
    }

    /// Everything received so far, in order.
    public func requests() -> [Request] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Request(n: object["n"] as? Int ?? 0, headers: object["headers"] as? [String: String] ?? [:],
                           body: object["body"] as? String ?? "", mode: object["mode"] as? String ?? "", at: object["at"] as? Double ?? 0)
        }
    }

    public func stop() { peer.stop() }
}

/// Debian's aiosmtpd (`Tests/Fixtures/smtp_server.py`), with STARTTLS required or with no TLS at all.
public final class SMTPServer: Sendable {
    public let peer: PeerProcess
    public var port: Int { peer.port }
    public var maildir: String { "\(peer.folder)/mail" }

    /// `certificate` = (cert, key) PEM paths to offer and require STARTTLS.
    public init(certificate: (String, String)?) throws {
        peer = try PeerProcess(interpreter: "/usr/bin/python3", script: "\(Fixtures.repositoryRoot)/Tests/Fixtures/smtp_server.py") { folder in
            ["\(folder)/mail"] + (certificate.map { [$0.0, $0.1] } ?? [])
        }
    }

    /// Received messages, oldest first.
    public func messages() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: maildir)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { try? String(contentsOfFile: "\(maildir)/\($0)", encoding: .utf8) }
    }

    public func stop() { peer.stop() }
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl command.
public func makeCertificate() throws -> (cert: String, key: String) {
    let folder = try Fixtures.temporaryDirectory()
    let outcome = try Subprocess.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(folder)/key.pem",
                                                          "-out", "\(folder)/cert.pem", "-days", "2", "-subj", "/CN=localhost",
                                                          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    guard outcome.status == 0 else { throw PeerError(message: "openssl failed: \(outcome.stderr)") }
    return ("\(folder)/cert.pem", "\(folder)/key.pem")
}

/// A clock tests move by hand.
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date) {
        current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
