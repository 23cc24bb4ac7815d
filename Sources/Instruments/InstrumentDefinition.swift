/// A versioned, data-defined outcome measure: items, options, scoring policy and interpretation rules.
///
/// Definitions are loaded from `config/instruments/*.yaml`; every published rule and every
/// ASSUMED policy from `references/instruments.md` is a field here, so a service can change it
/// without touching code. A score records the `version` of the definition that produced it.
public struct InstrumentDefinition: Sendable, Equatable, Codable {
    /// Stable id used in configs, the API and the CLI, e.g. `phq9`.
    public var id: String
    /// Version of this definition (not of the published instrument); bump it when any rule changes.
    public var version: String
    public var title: String
    public var licence: Licence
    /// The question stem shown above the items, when it may be shipped.
    public var stem: String?
    public var direction: Direction
    /// Response options shared by every item unless an item has its own.
    public var options: [ResponseOption]
    public var items: [Item]
    /// For instruments whose number of items varies per person (goals): how many must be present.
    public var itemCount: ItemCount?
    /// 1-based item numbers scored as `(highest option + lowest option) − value`.
    public var reverseItems: [Int]
    public var missing: MissingPolicy
    public var notApplicable: [NotApplicableRule]
    public var total: TotalRule
    /// Raw total → reported score table (the SWEMWBS Rasch conversion). Empty when not used.
    public var transform: [TransformEntry]
    public var subscales: [Subscale]
    /// Ordered by `min`; a score is in the band with the highest `min` ≤ score.
    public var bands: [Band]
    public var caseness: Caseness?
    public var reliableChange: ReliableChangeRule?
    public var riskItems: [RiskItem]
    /// Policies with no published rule, spelled out so a reader of a score knows what was assumed.
    public var assumptions: [String]
    /// Published sources behind the rules above.
    public var sources: [String]

    public init(
        id: String, version: String, title: String, licence: Licence, stem: String? = nil,
        direction: Direction, options: [ResponseOption], items: [Item], itemCount: ItemCount? = nil,
        reverseItems: [Int] = [], missing: MissingPolicy, notApplicable: [NotApplicableRule] = [],
        total: TotalRule, transform: [TransformEntry] = [], subscales: [Subscale] = [], bands: [Band] = [],
        caseness: Caseness? = nil, reliableChange: ReliableChangeRule? = nil, riskItems: [RiskItem] = [],
        assumptions: [String] = [], sources: [String] = []
    ) {
        self.id = id
        self.version = version
        self.title = title
        self.licence = licence
        self.stem = stem
        self.direction = direction
        self.options = options
        self.items = items
        self.itemCount = itemCount
        self.reverseItems = reverseItems
        self.missing = missing
        self.notApplicable = notApplicable
        self.total = total
        self.transform = transform
        self.subscales = subscales
        self.bands = bands
        self.caseness = caseness
        self.reliableChange = reliableChange
        self.riskItems = riskItems
        self.assumptions = assumptions
        self.sources = sources
    }

    /// Options that apply to the item at 1-based `number`.
    public func options(forItem number: Int) -> [ResponseOption] {
        let item = items[number - 1]
        return item.options ?? options
    }
}

/// Which way a score points.
public enum Direction: String, Sendable, Codable, CaseIterable {
    case higherIsWorse = "higher_is_worse"
    case higherIsBetter = "higher_is_better"
}

/// Copyright holder, terms, and whether item text may ship with the service.
public struct Licence: Sendable, Equatable, Codable {
    public var holder: String
    public var terms: String
    /// The line that must appear wherever the items are shown.
    public var attribution: String
    /// `false` when the licence forbids shipping item text: the licensee fills it in.
    public var itemTextShipped: Bool

    public init(holder: String, terms: String, attribution: String, itemTextShipped: Bool) {
        self.holder = holder
        self.terms = terms
        self.attribution = attribution
        self.itemTextShipped = itemTextShipped
    }
}

/// One answer choice as printed on the form.
public struct ResponseOption: Sendable, Equatable, Codable {
    public var value: Int
    public var label: String

    public init(value: Int, label: String) {
        self.value = value
        self.label = label
    }
}

/// One question.
public struct Item: Sendable, Equatable, Codable {
    /// Short stable label, e.g. `work` or `1`.
    public var id: String
    /// Item wording, or nil where the licence forbids shipping it.
    public var text: String?
    /// Options for this item only (otherwise the instrument's).
    public var options: [ResponseOption]?

    public init(id: String, text: String?, options: [ResponseOption]? = nil) {
        self.id = id
        self.text = text
        self.options = options
    }
}

/// Minimum and maximum number of answers for a variable-length instrument.
public struct ItemCount: Sendable, Equatable, Codable {
    public var min: Int
    public var max: Int

    public init(min: Int, max: Int) {
        self.min = min
        self.max = max
    }
}

/// How many answers may be missing and what to do about them.
public struct MissingPolicy: Sendable, Equatable, Codable {
    public enum Method: String, Sendable, Codable, CaseIterable {
        /// No missing answer allowed.
        case none
        /// `sum × scored items / answered items`.
        case prorateSum = "prorate_sum"
        /// Mean of the answered items (mean-based totals need no extra step).
        case meanOfAnswered = "mean_of_answered"
    }

    public enum Rounding: String, Sendable, Codable, CaseIterable {
        /// Keep the exact value; rounding is for display.
        case none
        /// Round to the nearest integer, .5 up (not banker's rounding).
        case halfUp = "half_up"
    }

    /// Most unanswered scored items that still give a valid score.
    public var maxMissing: Int
    public var method: Method
    public var rounding: Rounding

    public init(maxMissing: Int, method: Method, rounding: Rounding) {
        self.maxMissing = maxMissing
        self.method = method
        self.rounding = rounding
    }
}

/// An item left out of the total when the context says it does not apply (WSAS work item when retired).
public struct NotApplicableRule: Sendable, Equatable, Codable {
    public var item: Int
    /// Context key that, when `true`, makes the item not applicable, e.g. `work_not_applicable`.
    public var context: String

    public init(item: Int, context: String) {
        self.item = item
        self.context = context
    }
}

/// How the answered items become the reported total.
public struct TotalRule: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case sum
        /// Item mean × 10 (CORE clinical score).
        case meanTimes10 = "mean_times_10"
        /// Mean of the listed items (DIALOG subjective quality of life).
        case mean
    }

    public var kind: Kind
    /// 1-based items in the total; empty means every item.
    public var items: [Int]

    public init(kind: Kind, items: [Int] = []) {
        self.kind = kind
        self.items = items
    }
}

/// One row of a raw → reported conversion table.
public struct TransformEntry: Sendable, Equatable, Codable {
    public var raw: Int
    public var score: Double

    public init(raw: Int, score: Double) {
        self.raw = raw
        self.score = score
    }
}

/// A named part score, such as DIALOG treatment satisfaction.
public struct Subscale: Sendable, Equatable, Codable {
    public var id: String
    public var label: String
    public var kind: TotalRule.Kind
    public var items: [Int]
    /// Most missing items in this subscale that still give a value.
    public var maxMissing: Int

    public init(id: String, label: String, kind: TotalRule.Kind, items: [Int], maxMissing: Int) {
        self.id = id
        self.label = label
        self.kind = kind
        self.items = items
        self.maxMissing = maxMissing
    }
}

/// A severity band: scores ≥ `min` and below the next band's `min`.
public struct Band: Sendable, Equatable, Codable {
    public var id: String
    public var label: String
    public var min: Double

    public init(id: String, label: String, min: Double) {
        self.id = id
        self.label = label
        self.min = min
    }
}

/// The clinical cut-off: scores at or beyond `threshold` (in the instrument's worse direction) are cases.
public struct Caseness: Sendable, Equatable, Codable {
    public var threshold: Double
    public var source: String?

    public init(threshold: Double, source: String? = nil) {
        self.threshold = threshold
        self.source = source
    }
}

/// The smallest change that counts as reliable.
public enum ReliableChangeRule: Sendable, Equatable, Codable {
    /// A published point threshold (PHQ-9 6, GAD-7 4, CORE-10 6), inclusive.
    case points(Double, source: String?)
    /// Jacobson & Truax (1991): `z × SD × √2 × √(1 − reliability)`.
    case jacobsonTruax(sd: Double, reliability: Double, z: Double, source: String?)

    /// The minimum absolute change that is reliable.
    public var threshold: Double {
        switch self {
        case .points(let points, _):
            return points
        case .jacobsonTruax(let sd, let reliability, let z, _):
            return z * sd * (2.0).squareRoot() * (1 - reliability).squareRoot()
        }
    }
}

/// An item whose answer needs clinical follow-up whatever the total.
public struct RiskItem: Sendable, Equatable, Codable {
    public var item: Int
    /// Values strictly above this raise `flag`.
    public var above: Int
    public var flag: String
    /// Raised when the item is left unanswered (ASSUMED safety policy); nil to disable.
    public var unansweredFlag: String?

    public init(item: Int, above: Int, flag: String, unansweredFlag: String?) {
        self.item = item
        self.above = above
        self.flag = flag
        self.unansweredFlag = unansweredFlag
    }
}
