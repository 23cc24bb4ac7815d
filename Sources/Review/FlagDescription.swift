public import Foundation
public import Instruments

/// A flag as a clinician reads it: a title and the evidence behind it, from the instrument definition — never a raw
/// id such as `PHQ9_ITEM9_POSITIVE`.
public struct FlagDescription: Sendable, Equatable, Codable {
    public var title: String
    /// One line per fact: the item and the answer with its label, or the score, band and change with the rule used.
    public var evidence: [String]
    /// The measure it is about, when it is about one.
    public var instrument: String?

    public init(title: String, evidence: [String], instrument: String?) {
        self.title = title
        self.evidence = evidence
        self.instrument = instrument
    }

    /// Describes a stored flag (`kind` and its evidence JSON). Pure: the definitions say what items and bands mean.
    public static func describe(kind: String, evidence json: String, catalog: InstrumentCatalog) -> FlagDescription {
        let fields = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        let instrument = fields["instrument"] as? String
        let definition = instrument.flatMap(catalog.definition)
        let measure = definition?.title ?? instrument ?? "a measure"
        func number(_ key: String) -> Double? { (fields[key] as? NSNumber)?.doubleValue }
        func figure(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value) }
        func band(of total: Double) -> Band? { definition?.bands.last { total >= $0.min } }

        if let item = (fields["item"] as? NSNumber)?.intValue, let definition {
            let text = definition.licence.itemTextShipped ? definition.items.indices.contains(item - 1) ? definition.items[item - 1].text : nil : nil
            let name = "\(definition.title) item \(item)"
            let about = text.map { "\(name): “\($0)”" } ?? name
            guard let value = (fields["value"] as? NSNumber)?.intValue else {
                return FlagDescription(title: "\(name) was left unanswered", evidence: [about, "No answer was given to this risk item: ask about it."],
                                       instrument: definition.id)
            }
            let options = definition.items.indices.contains(item - 1) ? definition.items[item - 1].options ?? definition.options : definition.options
            let label = options.first { $0.value == value }?.label
            return FlagDescription(title: "\(name) answered \(label ?? String(value))",
                                   evidence: [about, "Answer: \(value)\(label.map { " (\($0))" } ?? "")"], instrument: definition.id)
        }
        switch kind {
        case "reliable_deterioration":
            var lines: [String] = []
            if let total = number("total") {
                lines.append("Now \(figure(total))\(band(of: total).map { " (\($0.label))" } ?? "")")
                if let baseline = number("baseline_total") {
                    lines.append("Baseline \(figure(baseline))\(band(of: baseline).map { " (\($0.label))" } ?? ""): a rise of \(figure(total - baseline))")
                }
            }
            if let rule = definition?.reliableChange {
                let source: String?
                switch rule {
                case .points(_, let text): source = text
                case .jacobsonTruax(_, _, _, let text): source = text
                }
                lines.append("Rule: a change of \(figure(rule.threshold)) or more is reliable\(source.map { " (\($0))" } ?? "")")
            }
            return FlagDescription(title: "\(measure): reliable deterioration since baseline", evidence: lines, instrument: instrument)
        case "severe_band":
            let total = number("total")
            let severe = definition?.bands.first { $0.id == "severe" }
            var lines = total.map { ["Score \(figure($0))"] } ?? []
            if let severe { lines.append("The \(severe.label.lowercased()) band starts at \(figure(severe.min))") }
            return FlagDescription(title: "\(measure) in the \(severe?.label.lowercased() ?? "severe") band", evidence: lines, instrument: instrument)
        case "free_text_risk":
            let phrase = fields["phrase"] as? String
            return FlagDescription(title: "A free-text reply used a risk phrase",
                                   evidence: [phrase.map { "Matched “\($0)” (from intake.risk_phrases); read the whole reply in the inbox" } ?? "Read the reply in the inbox"],
                                   instrument: nil)
        case "recovery_gains_at_risk":
            let missed = (fields["missed_in_a_row"] as? NSNumber)?.intValue
            return FlagDescription(title: "Check-ins missed in a row", evidence: [missed.map { "\($0) check-ins in a row closed unanswered" } ?? "Check-ins closed unanswered"],
                                   instrument: nil)
        default:
            return FlagDescription(title: kind.replacingOccurrences(of: "_", with: " "), evidence: [], instrument: instrument)
        }
    }
}
