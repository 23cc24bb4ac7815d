/// The result of scoring one set of answers, with the steps that explain it.
public struct Score: Sendable, Equatable {
    public var instrument: String
    public var version: String
    /// Enough items were answered to score.
    public var valid: Bool
    /// The reported total, exact (rounding here only where the published rule rounds); nil when not valid.
    public var total: Double?
    public var band: String?
    /// The total was scaled up for missing items.
    public var prorated: Bool
    /// At or beyond the clinical cut-off; nil when the instrument has none or the form is not valid.
    public var caseness: Bool?
    /// Raised from the answers alone, whether or not the form is valid.
    public var riskFlags: [RiskFlag]
    public var subscales: [SubscaleScore]
    public var answered: Int
    public var missing: Int
    public var baselineTotal: Double?
    /// `total − baseline_total`, in the instrument's units.
    public var scoreChange: Double?
    public var change: ChangeClass?
    public var recovered: Bool?
    public var reliableRecovery: Bool?
    public var steps: [ScoringStep]

    /// The steps in words, one line each.
    public var explanation: [String] { steps.map(\.text) }
}

/// A risk item answer that needs clinical follow-up.
public struct RiskFlag: Sendable, Equatable, Codable {
    public var item: Int
    /// nil when the flag was raised because the item was unanswered.
    public var value: Int?
    public var flag: String

    public init(item: Int, value: Int?, flag: String) {
        self.item = item
        self.value = value
        self.flag = flag
    }
}

/// A part score such as DIALOG treatment satisfaction.
public struct SubscaleScore: Sendable, Equatable, Codable {
    public var id: String
    public var value: Double?

    public init(id: String, value: Double?) {
        self.id = id
        self.value = value
    }
}

/// Reliable change class against a baseline.
public enum ChangeClass: String, Sendable, Codable, CaseIterable {
    case reliableImprovement = "reliable_improvement"
    case reliableDeterioration = "reliable_deterioration"
    case noReliableChange = "no_reliable_change"
}

/// One step the scorer took; `text` says it in words.
public enum ScoringStep: Sendable, Equatable {
    case definition(id: String, version: String)
    case notApplicable(item: Int, context: String)
    case reversed(item: Int, from: Int, to: Int)
    case missingAllowed(missing: Int, of: Int, allowed: Int)
    case tooManyMissing(missing: Int, of: Int, allowed: Int)
    case summed(raw: Int, items: Int)
    case prorated(raw: Int, items: Int, answered: Int, exact: Double)
    case roundedHalfUp(from: Double, to: Double)
    case mean(raw: Int, answered: Int, times10: Bool, value: Double)
    case transformed(raw: Int, score: Double)
    case band(id: String, label: String, min: Double, total: Double)
    case caseness(threshold: Double, direction: Direction, isCase: Bool)
    case risk(item: Int, value: Int?, flag: String)
    case baseline(total: Double?)
    case change(delta: Double, threshold: Double, result: ChangeClass)
    case noChangeRule(instrument: String)
    case recovery(baselineCase: Bool, followUpCase: Bool, recovered: Bool?)

    public var text: String {
        switch self {
        case .definition(let id, let version):
            return "Scored with definition \(id) version \(version)."
        case .notApplicable(let item, let context):
            return "Item \(item) not applicable (\(context)); left out of the total, not prorated."
        case .reversed(let item, let from, let to):
            return "Item \(item) is reverse-scored: answer \(from) counts as \(to)."
        case .missingAllowed(let missing, let of, let allowed):
            return "\(missing) of \(of) items unanswered; up to \(allowed) may be missing."
        case .tooManyMissing(let missing, let of, let allowed):
            return "\(missing) of \(of) items unanswered; at most \(allowed) may be missing, so no total is given."
        case .summed(let raw, let items):
            return "Total = sum of \(items) items = \(raw)."
        case .prorated(let raw, let items, let answered, let exact):
            return "Prorated: \(raw) × \(items)/\(answered) = \(format(exact, places: 4))."
        case .roundedHalfUp(let from, let to):
            return "Rounded half up: \(format(from, places: 4)) → \(format(to))."
        case .mean(let raw, let answered, let times10, let value):
            return times10
                ? "Clinical score = mean of \(answered) answered items × 10 = \(raw)/\(answered) × 10 = \(format(value, places: 2))."
                : "Score = mean of \(answered) answered items = \(raw)/\(answered) = \(format(value, places: 2))."
        case .transformed(let raw, let score):
            return "Raw total \(raw) converted with the definition's table to \(format(score, places: 2))."
        case .band(let id, let label, let min, let total):
            return "Band \(id) (\(label)): \(format(total, places: 2)) ≥ \(format(min)), the band's lower bound."
        case .caseness(let threshold, let direction, let isCase):
            let rule = direction == .higherIsWorse ? "≥ \(format(threshold))" : "< \(format(threshold))"
            return isCase ? "At caseness: total \(rule)." : "Below caseness: caseness is total \(rule)."
        case .risk(let item, let value, let flag):
            if let value { return "Risk item \(item) answered \(value): flag \(flag)." }
            return "Risk item \(item) unanswered: flag \(flag)."
        case .baseline(let total):
            if let total { return "Baseline total \(format(total, places: 2))." }
            return "Baseline not valid: no change computed."
        case .change(let delta, let threshold, let result):
            return "Change \(delta >= 0 ? "+" : "")\(format(delta, places: 2)); reliable change needs ≥ \(format(threshold, places: 2)) points: \(result.rawValue)."
        case .noChangeRule(let instrument):
            return "No reliable change threshold is defined for \(instrument): change not classified."
        case .recovery(_, let followUpCase, let recovered):
            guard let recovered else {
                return "Baseline below caseness: recovery does not apply."
            }
            return recovered ? "Recovered: baseline at caseness, now below." : "Not recovered: \(followUpCase ? "still at caseness" : "baseline at caseness")."
        }
    }
}

/// Formats a number for people: integers without a decimal point, others to `places`.
func format(_ value: Double, places: Int) -> String {
    if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if text.contains("e") { return String(value) }
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < places { text += String(repeating: "0", count: places - decimals) }
    }
    return text
}
