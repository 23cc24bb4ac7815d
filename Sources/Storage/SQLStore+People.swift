public import Foundation
public import Scheduling
import SQLKit

/// A person as stored, with their enrolment.
public struct PersonRecord: Sendable, Equatable, Codable {
    public var person: Person
    public var enrolmentID: String
    public var mode: String
}

extension SQLStore {
    /// Writes people, their contact points and enrolments in one transaction; fails whole on any conflict.
    ///
    /// Rows are written in batches of multi-row INSERTs so a 100,000-row import is one short transaction.
    public func insertPeople(_ people: [Person], now: Date) async throws {
        let stamp = now.millis
        try await transaction { db in
            let ids = people.map(\.id)
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let existing = try await db.select().column("id").from("people").where("id", .in, chunk).all()
                if let row = existing.first {
                    let id = try row.decode(column: "id", as: String.self)
                    throw StoreError.duplicate("person `\(id)` already exists")
                }
            }
            for batch in stride(from: 0, to: people.count, by: 100).map({ Array(people[$0..<min($0 + 100, people.count)]) }) {
                var insertPeople = db.insert(into: "people").columns("id", "given_name", "timezone", "team", "clinician", "created_at_ms", "updated_at_ms")
                var insertEnrolments = db.insert(into: "enrolments").columns("id", "person_id", "pathway", "start_date", "mode", "created_at_ms")
                var contacts: [[any SQLExpression]] = []
                var bookings: [[any SQLExpression]] = []
                for person in batch {
                    insertPeople = insertPeople.values(SQLBind(person.id), SQLBind(person.givenName), SQLBind(person.timezone), SQLBind(person.team),
                                                       SQLBind(person.clinician), SQLBind(stamp), SQLBind(stamp))
                    let enrolmentID = newID()
                    insertEnrolments = insertEnrolments.values(SQLBind(enrolmentID), SQLBind(person.id), SQLBind(person.pathway),
                                                               SQLBind(person.startDate.description), SQLBind(person.mode.rawValue), SQLBind(stamp))
                    if let review = person.nextReviewAt {
                        bookings.append([SQLBind("rv_" + newID()), SQLBind(enrolmentID), SQLBind(review * 1000), SQLBind("booked"),
                                         SQLBind("planned"), SQLBind(stamp)])
                    }
                    if let phone = person.phone {
                        contacts.append([SQLBind(person.id), SQLBind(Channel.sms.rawValue), SQLBind(phone), SQLBind(stamp)])
                    }
                    if let email = person.email {
                        contacts.append([SQLBind(person.id), SQLBind(Channel.email.rawValue), SQLBind(email), SQLBind(stamp)])
                    }
                }
                try await insertPeople.run()
                try await insertEnrolments.run()
                if !bookings.isEmpty {
                    var insertBookings = db.insert(into: "reviews").columns("id", "enrolment_id", "review_at_ms", "source", "status", "created_at_ms")
                    for row in bookings { insertBookings = insertBookings.values(row) }
                    try await insertBookings.run()
                }
                if !contacts.isEmpty {
                    var insertContacts = db.insert(into: "contact_points").columns("person_id", "channel", "address", "created_at_ms")
                    for row in contacts { insertContacts = insertContacts.values(row) }
                    try await insertContacts.run()
                }
            }
        }
        if people.count >= Self.bulkRows { await refreshStatistics(["people", "contact_points", "enrolments", "reviews"]) }
    }

    /// One person, or nil.
    public func person(id: String) async throws -> PersonRecord? {
        try await people(where: SQLBinaryExpression(SQLColumn("id", table: "p"), .equal, SQLBind(id)), limit: 1).first
    }

    /// People in `team` (or everyone when nil), ordered by id; `after` starts after that id (a page's last).
    public func people(team: String?, after: String? = nil, limit: Int = 500) async throws -> [PersonRecord] {
        var conditions: [any SQLExpression] = []
        if let team { conditions.append(SQLBinaryExpression(SQLColumn("team", table: "p"), .equal, SQLBind(team))) }
        if let after { conditions.append(SQLBinaryExpression(SQLColumn("id", table: "p"), .greaterThan, SQLBind(after))) }
        let condition = conditions.dropFirst().reduce(conditions.first) { all, next in all.map { SQLBinaryExpression($0, .and, next) } }
        return try await people(where: condition, limit: limit)
    }

    public func countPeople() async throws -> Int {
        try await read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM people").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    private func people(where condition: (any SQLExpression)?, limit: Int) async throws -> [PersonRecord] {
        try await read { db in
            var query = db.select()
                .column(SQLColumn("id", table: "p")).column(SQLColumn("given_name", table: "p"))
                .column(SQLColumn("timezone", table: "p")).column(SQLColumn("team", table: "p"))
                .column(SQLColumn("clinician", table: "p"))
                .column(SQLAlias(SQLColumn("id", table: "e"), as: SQLIdentifier("enrolment_id")))
                .column(SQLColumn("pathway", table: "e")).column(SQLColumn("start_date", table: "e")).column(SQLColumn("mode", table: "e"))
                .column(SQLAlias(SQLColumn("address", table: "s"), as: SQLIdentifier("phone")))
                .column(SQLAlias(SQLColumn("address", table: "m"), as: SQLIdentifier("email")))
                .from(SQLAlias(SQLIdentifier("people"), as: SQLIdentifier("p")))
                .join(SQLAlias(SQLIdentifier("enrolments"), as: SQLIdentifier("e")), on: SQLColumn("person_id", table: "e"), .equal, SQLColumn("id", table: "p"))
                .join(SQLAlias(SQLIdentifier("contact_points"), as: SQLIdentifier("s")), method: SQLJoinMethod.left,
                      on: SQLRaw("s.person_id = p.id AND s.channel = 'sms'"))
                .join(SQLAlias(SQLIdentifier("contact_points"), as: SQLIdentifier("m")), method: SQLJoinMethod.left,
                      on: SQLRaw("m.person_id = p.id AND m.channel = 'email'"))
                .orderBy(SQLColumn("id", table: "p"))
                .limit(limit)
            if let condition { query = query.where(condition) }
            return try await query.all().map { row in
                let start = try row.decode(column: "start_date", as: String.self)
                let person = Person(
                    id: try row.decode(column: "id", as: String.self),
                    givenName: try row.decode(column: "given_name", as: String.self),
                    phone: try row.decode(column: "phone", as: String?.self),
                    email: try row.decode(column: "email", as: String?.self),
                    timezone: try row.decode(column: "timezone", as: String?.self),
                    pathway: try row.decode(column: "pathway", as: String.self),
                    startDate: LocalDate.parse(start) ?? LocalDate(year: 1970, month: 1, day: 1),
                    clinician: try row.decode(column: "clinician", as: String?.self),
                    team: try row.decode(column: "team", as: String.self)
                )
                return PersonRecord(person: person, enrolmentID: try row.decode(column: "enrolment_id", as: String.self),
                                    mode: try row.decode(column: "mode", as: String.self))
            }
        }
    }
}

/// One way of reaching a person, with whether we may: `active`, `opted_out` (since when, and how) or `erased`.
public struct ContactChannel: Sendable, Equatable {
    public var channel: String
    /// Nil once erased.
    public var address: String?
    public var status: String
    public var since: Date
    /// How the state came about: `sms_keyword` (STOP or START), `unsubscribe_link`, `inbox`, `erasure`, or
    /// `enrolment` for a channel active since it was added.
    public var via: String
}

extension SQLStore {
    /// The person's channels and their consent state, as sending sees it (the latest consent wins; erasure overrides).
    public func contactChannels(personID: String) async throws -> [ContactChannel] {
        try await read { db in
            let erased = try await db.raw("SELECT contact_erased_at_ms FROM people WHERE id = \(bind: personID)").first()?
                .decode(column: "contact_erased_at_ms", as: Int64?.self)
            return try await db.raw("""
                SELECT c.channel, c.address, c.created_at_ms,
                       (SELECT k.status FROM consents k WHERE k.person_id = c.person_id AND k.channel = c.channel ORDER BY k.recorded_at_ms DESC, k.id DESC LIMIT 1) AS consent,
                       (SELECT k.source FROM consents k WHERE k.person_id = c.person_id AND k.channel = c.channel ORDER BY k.recorded_at_ms DESC, k.id DESC LIMIT 1) AS source,
                       (SELECT k.recorded_at_ms FROM consents k WHERE k.person_id = c.person_id AND k.channel = c.channel ORDER BY k.recorded_at_ms DESC, k.id DESC LIMIT 1) AS consent_at
                FROM contact_points c WHERE c.person_id = \(bind: personID) ORDER BY c.channel
                """).all().map { row in
                let created = try row.decode(column: "created_at_ms", as: Int64.self)
                if let erased {
                    return ContactChannel(channel: try row.decode(column: "channel", as: String.self), address: nil, status: "erased",
                                          since: Date(millis: erased), via: "erasure")
                }
                let consent = try row.decode(column: "consent", as: String?.self)
                let at = try row.decode(column: "consent_at", as: Int64?.self)
                return ContactChannel(channel: try row.decode(column: "channel", as: String.self), address: try row.decode(column: "address", as: String?.self),
                                      status: consent == "opted_out" ? "opted_out" : "active", since: Date(millis: at ?? created),
                                      via: consent == nil ? "enrolment" : try row.decode(column: "source", as: String?.self) ?? "unknown")
            }
        }
    }
}
