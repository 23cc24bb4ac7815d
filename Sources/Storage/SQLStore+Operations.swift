public import Foundation
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// The last run of a background job on one instance.
public struct ServiceRun: Sendable, Equatable, Codable {
    public var service: String
    public var instance: String
    public var startedAt: Date
    public var durationMilliseconds: Int64
    /// `ok`, `failed`, or `standby` (another instance holds the job's lock).
    public var outcome: String
    public var detail: String?

    public init(service: String, instance: String, startedAt: Date, durationMilliseconds: Int64, outcome: String, detail: String?) {
        self.service = service
        self.instance = instance
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.outcome = outcome
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case service, instance, outcome, detail
        case startedAt = "started_at", durationMilliseconds = "duration_ms"
    }
}

/// A message that failed, with its reason code, for ops to read and retry after a fix.
public struct FailedMessage: Sendable, Equatable, Codable {
    /// The message's first row (retrying it retries the message).
    public var id: String
    /// Outbox rows in the message: one (several for rows written before migration 19, one per prompt).
    public var rows: Int
    public var personID: String
    public var purpose: String
    public var channel: String
    public var gateway: String
    public var attempts: Int
    public var reason: String?
    public var failedAt: Date

    /// It failed because the person opted out or their contact was erased: retrying would only fail again.
    public var personRefused: Bool { Self.personRefused(reason) }

    static func personRefused(_ reason: String?) -> Bool {
        guard let reason else { return false }
        return reason.hasPrefix("opted out") || reason == "contact erased"
    }

    enum CodingKeys: String, CodingKey {
        case id, rows, purpose, channel, gateway, attempts, reason
        case personID = "person_id", failedAt = "failed_at"
    }
}

/// The outbox as ops see it: what waits, what is being sent and what failed, per gateway.
public struct OutboxHealth: Sendable, Codable {
    /// Outbox rows (one per message since migration 19) per gateway and status.
    public struct Count: Sendable, Equatable, Codable {
        public var gateway: String
        public var status: String
        public var rows: Int
    }

    public var counts: [Count]
    /// Queued rows already due, and how long the oldest has waited.
    public var due: Int
    public var oldestDue: Date?
    /// The newest failed messages (from the newest 1,000 failed rows, grouped by message).
    public var failed: [FailedMessage]

    enum CodingKeys: String, CodingKey {
        case counts, due, failed
        case oldestDue = "oldest_due"
    }
}

/// Why a failed message cannot be retried: sending again would only fail again, or send twice.
public enum RetryRefusal: String, Sendable, Error {
    case notFound = "not_found"
    case notFailed = "not_failed"
    case personRefused = "person_refused"
    case fellBack = "fell_back"

    public var message: String {
        switch self {
        case .notFound: return "no such message"
        case .notFailed: return "only failed messages can be retried; this one is not failed"
        case .personRefused: return "the person opted out or their contact details were erased: it would fail again"
        case .fellBack: return "its check-in already went out on another channel; sending it again would send it twice"
        }
    }
}

extension SQLStore {
    /// Runs `body` only while this process holds the lock `name` among every instance sharing the database — a
    /// session-level PostgreSQL advisory lock on one pooled connection, released at the end or when the instance dies
    /// (its connection closes). Nil when another instance holds it. On SQLite one process serves a file, so `body` runs.
    public func whileHolding<T: Sendable>(lock name: String, _ body: @Sendable () async throws -> T) async throws -> T? {
        guard let postgres = postgresClient else { return try await body() }
        return try await connection(postgres) { connection -> T? in
            let db = connection.sql(queryLogLevel: nil)
            let held = try await db.raw("SELECT pg_try_advisory_lock(hashtextextended(\(bind: name), 0)) AS held").first()?.decode(column: "held", as: Bool.self) ?? false
            guard held else { return nil }
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            // A connection the server has dropped during the job (a restart, a failover) can leave the unlock without
            // an answer: it gets two seconds, then the connection is closed, which releases the lock just the same.
            let unlocked = await Self.finishes(within: .seconds(2)) {
                _ = try? await db.raw("SELECT pg_advisory_unlock(hashtextextended(\(bind: name), 0)) AS released").first()
            }
            if !unlocked { try? await connection.close() }
            return try outcome.get()
        }
    }

    /// True when `work` ends within `limit`; false (leaving it to end on its own) when it does not.
    static func finishes(within limit: Duration, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = FirstAnswer(continuation)
            Task {
                await work()
                once.answer(true)
            }
            Task {
                try? await Task.sleep(for: limit)
                once.answer(false)
            }
        }
    }

    /// Records the last run of `service` on `instance`.
    public func recordRun(_ run: ServiceRun) async throws {
        try await transaction { db in
            try await db.raw("""
                INSERT INTO service_runs (service, instance, started_at_ms, duration_ms, outcome, detail)
                VALUES (\(bind: run.service), \(bind: run.instance), \(bind: run.startedAt.millis), \(bind: run.durationMilliseconds), \(bind: run.outcome), \(bind: run.detail))
                ON CONFLICT (service, instance) DO UPDATE SET started_at_ms = excluded.started_at_ms, duration_ms = excluded.duration_ms,
                    outcome = excluded.outcome, detail = excluded.detail
                """).run()
        }
    }

    /// Every job's last run on every instance, newest first.
    public func serviceRuns() async throws -> [ServiceRun] {
        try await read { db in
            try await db.raw("SELECT service, instance, started_at_ms, duration_ms, outcome, detail FROM service_runs ORDER BY started_at_ms DESC, service, instance")
                .all().map { row in
                    ServiceRun(service: try row.decode(column: "service", as: String.self), instance: try row.decode(column: "instance", as: String.self),
                               startedAt: Date(millis: try row.decode(column: "started_at_ms", as: Int64.self)),
                               durationMilliseconds: try row.decode(column: "duration_ms", as: Int64.self), outcome: try row.decode(column: "outcome", as: String.self),
                               detail: try row.decode(column: "detail", as: String?.self))
                }
        }
    }

    /// Queued, sending and failed messages per gateway (each read through its partial index), the due backlog, and
    /// the newest failures with their reasons.
    public func outboxHealth(now: Date, failedLimit: Int = 200) async throws -> OutboxHealth {
        let backlog = try await outboxBacklog(now: now)
        return try await read { db in
            var counts: [OutboxHealth.Count] = []
            for status in ["queued", "sending", "failed"] {
                counts += try await db.raw("SELECT gateway, COUNT(*) AS n FROM outbox_messages WHERE status = \(bind: status) GROUP BY gateway ORDER BY gateway")
                    .all().map { OutboxHealth.Count(gateway: try $0.decode(column: "gateway", as: String.self), status: status, rows: try $0.decode(column: "n", as: Int.self)) }
            }
            // A message's rows failed together: same person, channel and moment.
            var failed: [FailedMessage] = []
            for row in try await db.raw("""
                SELECT id, person_id, purpose, channel, gateway, attempt, last_error, updated_at_ms FROM outbox_messages
                WHERE status = 'failed' ORDER BY updated_at_ms DESC, person_id, id LIMIT \(literal: failedLimit * 5)
                """).all() {
                let message = FailedMessage(id: try row.decode(column: "id", as: String.self), rows: 1, personID: try row.decode(column: "person_id", as: String.self),
                                            purpose: try row.decode(column: "purpose", as: String.self), channel: try row.decode(column: "channel", as: String.self),
                                            gateway: try row.decode(column: "gateway", as: String.self), attempts: try row.decode(column: "attempt", as: Int.self),
                                            reason: try row.decode(column: "last_error", as: String?.self),
                                            failedAt: Date(millis: try row.decode(column: "updated_at_ms", as: Int64.self)))
                if let last = failed.last, last.personID == message.personID, last.channel == message.channel, last.failedAt == message.failedAt {
                    failed[failed.count - 1].rows += 1
                } else if failed.count < failedLimit {
                    failed.append(message)
                }
            }
            return OutboxHealth(counts: counts, due: backlog.rows, oldestDue: backlog.oldestDue, failed: failed)
        }
    }

    /// Queues a failed message again, due now, with a fresh set of attempts (after a fix: a gateway's credentials, a
    /// provider's outage). The rows that failed with it — one message's prompts — go with it, so it is sent as one
    /// message again. The dispatcher's send-time checks still apply (an answered or closed check-in expires instead).
    public func retryFailed(messageID: String, actor: String, now: Date) async throws -> Result<Int, RetryRefusal> {
        try await transaction { db in
            guard let row = try await db.raw("SELECT person_id, channel, status, updated_at_ms, last_error FROM outbox_messages WHERE id = \(bind: messageID)").first() else {
                return .failure(.notFound)
            }
            guard try row.decode(column: "status", as: String.self) == "failed" else { return .failure(.notFailed) }
            let siblings = try await db.raw("""
                SELECT id, created_at_ms, last_error FROM outbox_messages WHERE status = 'failed' AND person_id = \(bind: try row.decode(column: "person_id", as: String.self))
                AND channel = \(bind: try row.decode(column: "channel", as: String.self)) AND updated_at_ms = \(bind: try row.decode(column: "updated_at_ms", as: Int64.self))
                """).all()
            return try await self.requeue(db, siblings, actor: actor, now: now)
        }
    }

    /// Queues again every failed message on `gateway` (every gateway when nil) that failed at or after `since`; those
    /// that would fail again or send twice are left. Returns how many rows were queued.
    public func retryAllFailed(gateway: String?, since: Date, actor: String, now: Date) async throws -> Int {
        try await transaction { db in
            let scope = gateway.map { SQLQueryString("AND gateway = \(bind: $0)") } ?? SQLQueryString("")
            let rows = try await db.raw("""
                SELECT id, created_at_ms, last_error FROM outbox_messages WHERE status = 'failed' AND updated_at_ms >= \(bind: since.millis) \(scope)
                """).all()
            var queued = 0
            for row in rows {
                if case .success(let count) = try await self.requeue(db, [row], actor: actor, now: now) { queued += count }
            }
            return queued
        }
    }

    private func requeue(_ db: any SQLDatabase, _ rows: [any SQLRow], actor: String, now: Date) async throws -> Result<Int, RetryRefusal> {
        let stamp = now.millis
        var ids: [String] = []
        for row in rows {
            if FailedMessage.personRefused(try row.decode(column: "last_error", as: String?.self)) { return .failure(.personRefused) }
            // A later message carrying any of its prompts (a fallback channel, a reminder) means they went on without it.
            let id = try row.decode(column: "id", as: String.self)
            let later = try await db.raw("""
                SELECT o.id FROM outbox_prompts mine JOIN outbox_prompts l ON l.prompt_id = mine.prompt_id JOIN outbox_messages o ON o.id = l.message_id
                WHERE mine.message_id = \(bind: id) AND o.created_at_ms > \(bind: try row.decode(column: "created_at_ms", as: Int64.self)) LIMIT 1
                """).first()
            if later != nil { return .failure(.fellBack) }
            ids.append(id)
        }
        for id in ids {
            try await db.raw("""
                UPDATE outbox_messages SET status = 'queued', attempt = 0, due_at_ms = \(bind: stamp), last_error = NULL, lease_token = NULL,
                       lease_until_ms = NULL, updated_at_ms = \(bind: stamp) WHERE id = \(bind: id) AND status = 'failed'
                """).run()
            try await Self.transition(db, messageID: id, from: "failed", to: "queued", detail: "retried by \(actor)", now: stamp)
        }
        return .success(ids.count)
    }

    /// Replies waiting in the team inbox, by reason.
    public func inboxWaiting() async throws -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for row in try await db.raw("SELECT reason, COUNT(*) AS n FROM inbound_replies WHERE status = 'quarantined' GROUP BY reason").all() {
                counts[try row.decode(column: "reason", as: String?.self) ?? "unknown", default: 0] += try row.decode(column: "n", as: Int.self)
            }
            return counts
        }
    }
}

/// Resumes a continuation with the first answer given; later answers are ignored.
private final class FirstAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation = Mutex(continuation) }

    func answer(_ value: Bool) {
        continuation.withLock { pending in
            pending?.resume(returning: value)
            pending = nil
        }
    }
}
