import Foundation
import Review
import Scheduling
import Storage

/// What staff see about one person outside a review pack: where they are in their pathway, how we may reach them
/// (and why not, after a STOP or an unsubscribe), their open flags and their reviews.
struct PersonOverview: Sendable {
    var record: PersonRecord
    var channels: [ContactChannel]
    var reviews: [ReviewRecord]
    var openFlags: [FlagRecord]
    /// Mode switches (routine ↔ step-up), oldest first, with who made them.
    var modeChanges: [AuditEvent]
    var now: Date

    static func read(_ record: PersonRecord, env: ServiceEnvironment) async throws -> PersonOverview {
        let id = record.person.id
        return PersonOverview(record: record, channels: try await env.store.contactChannels(personID: id),
                              reviews: try await env.store.reviews(personID: id),
                              openFlags: try await env.store.flags(team: nil, personID: id, openOnly: true),
                              modeChanges: try await env.store.auditEvents(personID: id, actions: ["mode.set"]), now: env.now())
    }

    var nextReview: ReviewRecord? {
        reviews.first { $0.status == "planned" && $0.kind != "baseline" && $0.at >= now }
    }

    /// A channel's state in words: "opted out by SMS STOP on 3 Nov 2026".
    static func describe(_ channel: ContactChannel, day: DateFormatter) -> String {
        switch channel.status {
        case "erased": return "contact details erased on \(day.string(from: channel.since))"
        case "opted_out":
            let how = ["sms_keyword": "SMS STOP", "unsubscribe_link": "the email unsubscribe link", "inbox": "their reply, recorded from the team inbox"][channel.via]
                ?? channel.via
            return "opted out by \(how) on \(day.string(from: channel.since)): nothing is sent on this channel"
        default: return channel.via == "enrolment" ? "active" : "active (opted back in on \(day.string(from: channel.since)))"
        }
    }

    static func modeName(_ mode: String?) -> String { mode == "step_up" ? "stepped up (weekly)" : "back to routine" }

    private func history(day: DateFormatter) -> String {
        modeChanges.map { "<li>\(day.string(from: $0.at)): \(HTML.escape(Self.modeName($0.detail))) <span class=\"muted\">by \(HTML.escape($0.actor))</span></li>" }.joined()
    }

    func html(env: ServiceEnvironment) -> String {
        let person = record.person
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_GB")
        day.timeZone = TimeZone(identifier: person.timezone ?? env.configuration.pathways[person.pathway]?.timezone ?? env.configuration.settings.defaultTimeZone)
        day.dateFormat = "EEE d MMM yyyy"
        let isoDay = DateFormatter()
        isoDay.locale = Locale(identifier: "en_US_POSIX")
        isoDay.timeZone = day.timeZone
        isoDay.dateFormat = "yyyy-MM-dd"
        let channelRows = channels.map { channel in
            "<tr><td>\(HTML.escape(channel.channel))</td><td>\(HTML.escape(channel.address ?? "—"))</td><td>\(HTML.escape(Self.describe(channel, day: day)))</td></tr>"
        }.joined()
        let noChannel = channels.allSatisfy { $0.status != "active" }
            ? "<p class=\"error\" role=\"alert\">No channel can be used: no check-ins are sent to \(HTML.escape(person.givenName)).</p>" : ""
        let flagRows = openFlags.map { flag in
            let described = FlagDescription.describe(kind: flag.kind, evidence: flag.evidence, catalog: env.configuration.instruments)
            return "<li>\(HTML.escape(flag.severity)): \(HTML.escape(described.title)) <span class=\"muted\">raised \(day.string(from: flag.raisedAt))</span>"
                + described.evidence.map { "<br><span class=\"muted\">\(HTML.escape($0))</span>" }.joined() + "</li>"
        }.joined()
        let reviewRows = reviews.filter { $0.kind != "baseline" }.map { review in
            let state = review.isOverdue(now: now) ? "overdue" : review.status
            let pack = review.status == "cancelled" ? "" : "<a href=\"/clinician/people/\(HTML.escape(person.id))/review?review=\(isoDay.string(from: review.at))\">pack</a>"
            var actions = ""
            if review.status == "planned" && review.at.timeIntervalSince(now) <= 86_400 {
                let base = "/clinician/people/\(HTML.escape(person.id))/reviews/\(HTML.escape(review.id))"
                actions = """
                    <form method="post" action="\(base)/held"><label for="i-\(HTML.escape(review.id))">Interpretation (required to mark held)</label>
                    <textarea id="i-\(HTML.escape(review.id))" name="interpretation" rows="2" required></textarea><button type="submit">Mark held</button></form>
                    \(review.at <= now ? "<form method=\"post\" action=\"\(base)/missed\"><button type=\"submit\">Mark missed</button></form>" : "")
                    """
            }
            let held = review.interpretation.map { "<br><span class=\"muted\">\(HTML.escape($0))</span>" } ?? ""
            return "<tr><td>\(day.string(from: review.at))</td><td>\(HTML.escape(review.kind))</td><td>\(HTML.escape(state))\(held)</td><td>\(pack)\(actions)</td></tr>"
        }.joined()
        return """
        <h1>\(HTML.escape(person.givenName)) <span class="muted">\(HTML.escape(person.id))</span></h1>
        <p>Pathway \(HTML.escape(person.pathway)) · \(HTML.escape(record.mode == "step_up" ? "stepped up (weekly)" : "routine")) · team \(HTML.escape(person.team)) · started \(HTML.escape(person.startDate.description))</p>
        <p><strong>Next review:</strong> \(nextReview.map { "\(day.string(from: $0.at)) (\($0.kind))" } ?? "none planned")
         · <a href="/clinician/people/\(HTML.escape(person.id))/review">review pack</a></p>
        <h2>Pathway and mode</h2><ul><li>\(HTML.escape(person.startDate.description)): started on \(HTML.escape(person.pathway))</li>\(history(day: day))</ul>
        <h2>Contact</h2>\(noChannel)
        <table><tr><th>Channel</th><th>Address</th><th>State</th></tr>\(channelRows)</table>
        <h2>Open flags</h2>\(flagRows.isEmpty ? "<p>None.</p>" : "<ul>\(flagRows)</ul>")
        <h2>Reviews</h2><table><tr><th>Date</th><th>Kind</th><th>State</th><th></th></tr>\(reviewRows)</table>
        """
    }
}

/// `GET /api/v1/people/{id}`: the person, their mode, next review and channels with consent state.
struct PersonJSON: Encodable {
    var overview: PersonOverview

    enum Keys: String, CodingKey { case mode, nextReview = "next_review", channels, openFlags = "open_flags", modeHistory = "mode_history" }

    struct ModeChange: Encodable {
        var at: Date
        var mode: String
        var by: String
    }

    struct Channel: Encodable {
        var channel: String
        var address: String?
        var status: String
        var since: Date
        var via: String
    }

    func encode(to encoder: any Encoder) throws {
        try overview.record.person.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(overview.record.mode, forKey: .mode)
        try container.encode(overview.nextReview.map { ReviewJSON($0, now: overview.now) }, forKey: .nextReview)
        try container.encode(overview.channels.map { Channel(channel: $0.channel, address: $0.address, status: $0.status, since: $0.since, via: $0.via) },
                             forKey: .channels)
        try container.encode(overview.openFlags.count, forKey: .openFlags)
        try container.encode(overview.modeChanges.map { ModeChange(at: $0.at, mode: $0.detail ?? "", by: $0.actor) }, forKey: .modeHistory)
    }
}
