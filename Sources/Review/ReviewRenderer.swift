import Foundation
public import Instruments
import Mustache
import Scheduling

/// Review pack formats: HTML and Markdown through the service's Mustache templates (`review_html`, `review_md`),
/// JSON as the pack's own shape, FHIR R4 as a Bundle.
public enum ReviewFormat: String, Sendable, CaseIterable {
    case html, md, json, fhir
}

public struct ReviewRenderer: Sendable {
    private let library: MustacheLibrary
    let publicURL: String
    let instruments: InstrumentCatalog

    public static let templates = ["review_html", "review_md"]

    /// `templates` holds the `review_html` and `review_md` template texts by name; `publicURL` is the base of the
    /// FHIR bundle's full URLs.
    public init(templates: [String: String], publicURL: String, instruments: InstrumentCatalog) throws {
        var library = MustacheLibrary()
        for name in Self.templates {
            guard let text = templates[name] else { throw ReviewRenderError(description: "templates/\(name).mustache is missing") }
            try library.register((name == "review_md" ? "{{% CONTENT_TYPE: TEXT}}" : HTMLEscaping.pragma) + text, named: name)
        }
        self.library = library
        self.publicURL = publicURL
        self.instruments = instruments
    }

    public func render(_ pack: ReviewPack, as format: ReviewFormat) -> String {
        switch format {
        case .html: return library.render(view(pack), withTemplate: "review_html") ?? ""
        case .md: return library.render(view(pack), withTemplate: "review_md") ?? ""
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return String(decoding: (try? encoder.encode(pack)) ?? Data(), as: UTF8.self)
        case .fhir: return FHIRBundle(pack: pack, instruments: instruments, base: publicURL).json()
        }
    }

    // MARK: - The view the templates see: strings ready to print, dates in the person's zone.

    func view(_ pack: ReviewPack) -> [String: Any] {
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_GB")
        day.timeZone = TimeZone(identifier: pack.timeZone) ?? TimeZone(identifier: "UTC")
        day.dateFormat = "EEE d MMM yyyy"
        let shortFormatter = DateFormatter()
        shortFormatter.locale = day.locale
        shortFormatter.timeZone = day.timeZone
        shortFormatter.dateFormat = "d MMM yyyy"
        // A five-year pack has a completeness row per prompt (780 for three weekly measures): ICU formatting each date
        // was a tenth of a pack's time. In a zone the service knows, the day comes from its rules and the month's name
        // from the same formatter once a process (`ShortDate`); in any other the formatter writes it.
        let zone = ZoneRules.cached(pack.timeZone)
        func short(_ date: Date) -> String {
            zone.map { ShortDate.text(date, zone: $0) } ?? shortFormatter.string(from: date)
        }
        func number(_ value: Double?) -> String {
            guard let value else { return "—" }
            return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        }
        func signed(_ value: Double) -> String { value > 0 ? "+" + number(value) : value < 0 ? "−" + number(-value) : "0" }
        func changeText(_ change: ReviewPack.Change?) -> String {
            guard let change else { return "—" }
            let words: String
            switch change.change {
            case .reliableImprovement?: words = "reliable improvement"
            case .reliableDeterioration?: words = "reliable deterioration"
            case .noReliableChange?: words = "no reliable change"
            case nil: words = "no reliable-change rule"
            }
            return "\(signed(change.delta)) (\(number(change.from)) → \(number(change.to)), \(words))"
        }
        let measures: [[String: Any]] = pack.measures.map { measure in
            let recovery: String
            switch (measure.recovered, measure.reliableRecovery) {
            case (true?, true?): recovery = "reliable recovery"
            case (true?, _): recovery = "recovered"
            case (false?, _): recovery = "not recovered"
            default: recovery = "—"
            }
            return [
                "instrument": measure.instrument, "title": measure.title, "version": measure.version,
                "latest_total": number(measure.latest?.total), "latest_band": measure.latest?.bandLabel ?? "—",
                "latest_date": measure.latest.map { short($0.at) } ?? "no score yet",
                "baseline_total": number(measure.baseline?.total), "baseline_date": measure.baseline.map { short($0.at) } ?? "—",
                "since_baseline": changeText(measure.sinceBaseline), "since_last_review": changeText(measure.sinceLastReview),
                "recovery": recovery, "chart": measure.chartSVG,
                "deteriorated": measure.sinceBaseline?.change == .reliableDeterioration || measure.sinceLastReview?.change == .reliableDeterioration,
                "explanation": measure.explanation.map { ["line": $0] }, "has_explanation": !measure.explanation.isEmpty,
            ]
        }
        let goals: [[String: Any]] = pack.goals.map { goal in
            ["number": goal.number, "text": goal.text ?? "Goal \(goal.number) (no wording recorded)",
             "ratings": goal.ratings.map { String($0.value) }.joined(separator: " → "),
             "latest": goal.ratings.last.map { String($0.value) } ?? "—", "has_ratings": !goal.ratings.isEmpty]
        }
        let c = pack.completeness
        let completeness: [String: Any] = [
            "since": c.since.map { day.string(from: $0) } ?? "the start", "due": c.due, "sent": c.sent, "delivered": c.delivered,
            "answered": c.answered, "missed": c.missed, "open": c.open,
            "reasons": c.missedReasons.sorted { $0.key < $1.key }.map { ["reason": $0.key, "count": $0.value] }, "has_reasons": !c.missedReasons.isEmpty,
            // A row per prompt since the start (780 for five years of three weekly measures): cells the renderer prints
            // directly, without finding out what a plain string is first.
            "rows": c.rows.map { ["date": Cell(short($0.reviewAt)), "instrument": Cell(instruments.definition($0.instrument)?.title ?? $0.instrument),
                                  "kind": Cell($0.kind), "status": Cell($0.status), "delivery": Cell($0.delivery ?? "not sent"),
                                  "reason": Cell($0.reason.map(ReviewPack.describe) ?? "")] },
        ]
        // Absent keys are false in Mustache (an empty string is not), so optional parts are left out when empty.
        let flags: [[String: Any]] = pack.flags.map { flag in
            var entry: [String: Any] = ["id": flag.id, "kind": flag.title ?? flag.kind, "severity": flag.severity, "status": flag.status,
                                        "urgent": flag.severity == "urgent", "open": flag.status == "open", "raised": day.string(from: flag.raisedAt),
                                        "person_id": pack.personID, "actionable": flag.status != "actioned"]
            if let lines = flag.evidenceLines, !lines.isEmpty { entry["evidence"] = lines.map { ["line": $0] } }
            if let instrument = flag.instrument, pack.measures.contains(where: { $0.instrument == instrument }) { entry["instrument"] = instrument }
            if let at = flag.acknowledgedAt { entry["acknowledged"] = "\(day.string(from: at)) by \(flag.acknowledgedBy ?? "?")" }
            if let at = flag.actionedAt { entry["actioned"] = "\(day.string(from: at)) by \(flag.actionedBy ?? "?")" }
            if let note = flag.note, !note.isEmpty { entry["note"] = note }
            return entry
        }
        let notes: [[String: Any]] = pack.notes.map { note in
            ["review": day.string(from: note.reviewAt), "recorded": day.string(from: note.recordedAt), "author": note.author,
             "matches": note.matchesExperience, "note": note.note]
        }
        return [
            "person_id": pack.personID, "given_name": pack.givenName, "pathway": pack.pathway, "team": pack.team,
            "review_date": day.string(from: pack.reviewAt), "review_at": ISO8601DateFormatter().string(from: pack.reviewAt),
            "previous_review_date": pack.previousReviewAt.map { day.string(from: $0) } ?? "none (first review)",
            "generated": ISO8601DateFormatter().string(from: pack.generatedAt),
            "measures": measures, "goals": goals, "has_goals": !goals.isEmpty, "completeness": completeness,
            "flags": flags, "has_flags": !flags.isEmpty, "notes": notes, "has_notes": !notes.isEmpty,
        ]
    }
}

/// `d MMM yyyy` (en_GB) of an instant in a zone, as the pack's `DateFormatter` writes it, without ICU per call.
enum ShortDate {
    /// The twelve month names as the en_GB formatter writes them (`Sept` or `Sep`, whichever this ICU says).
    static let months: [String] = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "MMM"
        return (1...12).map { month in formatter.string(from: Date(timeIntervalSince1970: Double(LocalDate(year: 2021, month: month, day: 15).dayNumber * 86_400))) }
    }()

    static func text(_ date: Date, zone: ZoneRules) -> String {
        let day = LocalDate(dayNumber: zone.localDay(Int64(date.timeIntervalSince1970.rounded(.down))))
        return "\(day.day) \(months[day.month - 1]) \(day.year)"
    }
}

/// A text value for the templates that Mustache prints as it is (escaped for the template's content type): a plain
/// `String` first fails three protocol casts and goes through `String(describing:)`. Like a string, it is never
/// empty as a section (`{{#reason}}` renders for an empty reason too).
struct Cell: MustacheCustomRenderable {
    let renderText: String
    var isNull: Bool { false }

    init(_ text: String) {
        renderText = text
    }
}

/// HTML escaping for `{{value}}` in the review pack: the same five characters as Mustache's own (`<`, `>`, `&`, `"`,
/// `'`), replaced byte by byte over UTF-8, and a value with none of them is returned as it is. Mustache's own walks
/// each value character by character through a dictionary: for a five-year pack's 780 completeness rows of six
/// cells that was a tenth of the pack's time. Being byte-wise, it also escapes a `<` that a combining mark follows
/// (one character to Mustache, so left as it was).
struct HTMLEscaping: MustacheContentType {
    /// The pragma a template starts with to use it (registered on first use).
    static var pragma: String {
        _ = registered
        return "{{% CONTENT_TYPE: HTML_BYTES}}"
    }

    private static let registered: Void = MustacheContentTypes.register(HTMLEscaping(), named: "HTML_BYTES")

    func escapeText(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x3C || $0 == 0x3E || $0 == 0x26 || $0 == 0x22 || $0 == 0x27 }) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 16)
        for byte in text.utf8 {
            switch byte {
            case 0x3C: bytes.append(contentsOf: "&lt;".utf8)
            case 0x3E: bytes.append(contentsOf: "&gt;".utf8)
            case 0x26: bytes.append(contentsOf: "&amp;".utf8)
            case 0x22: bytes.append(contentsOf: "&quot;".utf8)
            case 0x27: bytes.append(contentsOf: "&#39;".utf8)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

public struct ReviewRenderError: Error, CustomStringConvertible {
    public var description: String
}
