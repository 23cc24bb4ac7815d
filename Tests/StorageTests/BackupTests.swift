import Foundation
import Logging
import ROMTesting
import SQLKit
import Storage
import Testing

@Suite("Backup", .disabled(if: Fixtures.onPostgres, "SQLite only: PostgreSQL is backed up with pg_dump"))
struct BackupTests {
    @Test("A backup taken while another connection keeps writing holds every row committed before it began, and a gap-free prefix of the rest")
    func backupUnderWriteLoad() async throws {
        let folder = try Fixtures.temporaryDirectory()
        let url = "sqlite:\(folder)/rom.sqlite"
        let writer = try await SQLStore.open(url: url, logger: Logger(label: "test"))
        _ = try await writer.migrate(now: Fixtures.fixedNow)
        let backupStore = try await SQLStore.open(url: url, logger: Logger(label: "test"))
        let committed = Counter()
        let writing = Task {
            var index = 0
            while !Task.isCancelled {
                try await writer.audit(AuditEvent(at: Fixtures.fixedNow, actor: "load", action: "load.write", personID: nil, detail: String(index), requestID: nil))
                committed.set(index)
                index += 1
            }
        }
        while committed.value < 200 { try await Task.sleep(for: .milliseconds(5)) }
        let before = committed.value
        let file = "\(folder)/backup.sqlite"
        try await backupStore.backup(to: file)
        while committed.value < before + 200 { try await Task.sleep(for: .milliseconds(5)) }
        writing.cancel()
        _ = try? await writing.value
        try await backupStore.close()
        try await writer.close()

        let copy = try await SQLStore.open(url: "sqlite:\(file)", logger: Logger(label: "test"))
        let report = try await copy.inspect()
        #expect(report.integrity == "ok" && report.schemaVersion == SQLStore.latestSchemaVersion)
        let numbers = try await copy.read { db in
            try await db.raw("SELECT detail FROM audit_events WHERE action = 'load.write'").all().map { Int(try $0.decode(column: "detail", as: String.self))! }
        }.sorted()
        try await copy.close()
        #expect(numbers.count > before, "every row committed before the backup began is in it")
        #expect(numbers == Array(0..<numbers.count), "one instant's snapshot: no gaps, nothing from after it without what came before")
        #expect(numbers.count < before + 200, "rows written after the backup finished are not in it")
        let again = try await SQLStore.open(url: url, logger: Logger(label: "test"))
        await #expect(throws: StoreError.self, "a backup never overwrites a file") { try await again.backup(to: file) }
        try await again.close()
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var number = -1
    var value: Int { lock.withLock { number } }
    func set(_ value: Int) { lock.withLock { number = value } }
}
