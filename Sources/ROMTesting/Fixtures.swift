public import Foundation
public import Instruments
import HummingbirdOTP
import Logging
import Prometheus
import SQLKit
public import ROMService
public import Storage

/// Paths, configurations and stores for tests, shared by every test target and the benchmarks.
public enum Fixtures {
    /// The repository root, found from this file's location.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The shipped `config/` folder.
    public static var configDirectory: String { "\(repositoryRoot)/config" }

    /// The shipped configuration, loaded without environment overrides.
    public static func shippedConfiguration() throws -> Configuration {
        try Configuration.load(directory: configDirectory, environment: [:])
    }

    /// The shipped instruments.
    public static func catalog() throws -> InstrumentCatalog {
        try shippedConfiguration().instruments
    }

    /// A fresh folder under the system temporary directory, removed by the caller.
    public static func temporaryDirectory() throws -> String {
        let path = "\(NSTemporaryDirectory())rom-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A copy of the shipped config in a temporary folder, for tests that break it.
    public static func copyOfConfig() throws -> String {
        let folder = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: configDirectory, toPath: "\(folder)/config")
        return "\(folder)/config"
    }

    /// A migrated store in a temporary folder: a SQLite file, or a fresh database on the PostgreSQL server named by
    /// `ROM_TEST_POSTGRES` (scripts/test's second pass).
    public static func migratedStore(now: Date = fixedNow) async throws -> (SQLStore, String) {
        let (store, folder, _) = try await migratedStoreAndURL(now: now)
        return (store, folder)
    }

    /// The same, with the database URL for starting `rom` against it.
    public static func migratedStoreAndURL(now: Date = fixedNow) async throws -> (SQLStore, String, String) {
        let folder = try temporaryDirectory()
        let url = try await freshDatabaseURL(folder: folder)
        let store = try await SQLStore.open(url: url, logger: Logger(label: "test"))
        try await store.migrate(now: now)
        return (store, folder, url)
    }

    /// The scale of a fault test: `ci` rounds in `scripts/test`, `full` (the recipe's own scale in
    /// `../shared/references/reliability.md`) when `scripts/faults` sets `ROM_FAULTS=full`.
    public static func faultScale(ci: Int, full: Int) -> Int {
        ProcessInfo.processInfo.environment["ROM_FAULTS"] == "full" ? full : ci
    }

    /// `postgres://USER@HOST:PORT` of a PostgreSQL server to run the suite against, or nil for SQLite.
    public static let postgresServer = ProcessInfo.processInfo.environment["ROM_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }

    /// Whether this run's stores are PostgreSQL databases.
    public static var onPostgres: Bool { postgresServer != nil }

    /// A new empty database: a SQLite file in `folder`, or a newly created PostgreSQL database.
    public static func freshDatabaseURL(folder: String) async throws -> String {
        guard let server = postgresServer else { return "sqlite:\(folder)/rom.sqlite" }
        let name = "rom_" + String((0..<16).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        let admin = try await SQLStore.open(url: "\(server)/postgres?sslmode=disable", logger: Logger(label: "test"))
        do {
            try await admin.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            try await admin.close()
        } catch {
            try? await admin.close()
            throw error
        }
        return "\(server)/\(name)?sslmode=disable"
    }

    /// A service environment over a fresh store, with a fixed clock.
    public static func environment(now: Date = fixedNow, configuration: Configuration? = nil) async throws -> ServiceEnvironment {
        let (store, _) = try await migratedStore(now: now)
        return try ServiceEnvironment(configuration: try configuration ?? shippedConfiguration(), store: store, now: { now },
                                      metrics: PrometheusCollectorRegistry(), logger: Logger(label: "test"))
    }

    /// Runs `body` with a fresh environment and closes its store afterwards, whether or not `body` throws.
    public static func withEnvironment<T>(now: Date = fixedNow, configuration: Configuration? = nil,
                                          _ body: (ServiceEnvironment) async throws -> T) async throws -> T {
        let env = try await environment(now: now, configuration: configuration)
        do {
            let result = try await body(env)
            try await env.store.close()
            return result
        } catch {
            try? await env.store.close()
            throw error
        }
    }

    /// Runs `body` with a fresh migrated store and closes it afterwards.
    public static func withStore<T>(now: Date = fixedNow, _ body: (SQLStore, String) async throws -> T) async throws -> T {
        let (store, folder) = try await migratedStore(now: now)
        do {
            let result = try await body(store, folder)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// 2026-11-24T09:00:00Z, a Tuesday.
    /// A signed-in browser session for a new staff account of `role` (and `team`), as the cookie header value
    /// `rom_session=…`. The account has no password: it exists only for this session, which skips the sign-in steps
    /// (the sign-in tests go through them for real).
    public static func staffSession(_ store: SQLStore, role: Role, team: String?, label: String = "test", now: Date,
                                    lifetime: TimeInterval = 3_600) async throws -> String {
        let id = "u_" + newID()
        try await store.insertUser(id: id, email: "\(label)-\(id.lowercased())@example.org", role: role, team: team, passwordHash: nil,
                                   totpSecret: nil, recoveryCodeHashes: [], setupHash: nil, setupExpiresAt: nil, actor: "test", now: now)
        let session = Credentials.newSecret(prefix: "session")
        try await store.insertSession(hash: Credentials.hash(session), userID: id, stage: .signedIn, next: nil, now: now,
                                      expiresAt: now.addingTimeInterval(lifetime))
        return "rom_session=\(session)"
    }

    /// A bearer token of `role` (and `team`), as the secret a client sends.
    public static func bearerToken(_ store: SQLStore, role: Role, team: String? = nil, now: Date) async throws -> String {
        let secret = Credentials.newSecret(prefix: "rom_\(role.rawValue)")
        try await store.insertToken(id: newID(), hash: Credentials.hash(secret), role: role, team: team, label: nil, now: now)
        return secret
    }

    /// A staff account that signs in for real: `password` stored as bcrypt, and a new TOTP secret, returned with
    /// its otpauth URI and ten recovery codes.
    public static func staffAccount(_ store: SQLStore, email: String, role: Role, team: String?, password: String,
                                    now: Date) async throws -> (id: String, secret: String, uri: String, recoveryCodes: [String]) {
        let id = "u_" + newID()
        let secret = StaffAuth.newTOTPSecret()
        let codes = StaffAuth.newRecoveryCodes()
        try await store.insertUser(id: id, email: email, role: role, team: team, passwordHash: await StaffAuth.hashPassword(password),
                                   totpSecret: secret, recoveryCodeHashes: codes.map(StaffAuth.recoveryCodeHash), setupHash: nil,
                                   setupExpiresAt: nil, actor: "test", now: now)
        return (id, secret, StaffAuth.otpauthURI(secret: secret, email: email), codes)
    }

    /// The 6-digit TOTP for `secret` at `date`, from HummingbirdOTP's RFC 6238 implementation (not ours).
    public static func totpCode(secret: String, at date: Date) -> String {
        String(format: "%06d", TOTP(secret: secret).compute(date: date))
    }

    public static let fixedNow = Date(timeIntervalSince1970: 1_795_510_800)
}
