/// A problem found in an instrument definition, located by its key path in the source file.
///
/// The pure core reports a key path (`bands[2].min`); the config loader turns it into file:line.
public struct DefinitionIssue: Sendable, Equatable, CustomStringConvertible {
    public enum PathComponent: Sendable, Equatable, CustomStringConvertible {
        case key(String)
        case index(Int)

        public var description: String {
            switch self {
            case .key(let key): return key
            case .index(let index): return "[\(index)]"
            }
        }
    }

    public var path: [PathComponent]
    public var message: String
    public var hint: String

    public init(path: [PathComponent], message: String, hint: String) {
        self.path = path
        self.message = message
        self.hint = hint
    }

    public var description: String {
        return "\(location): \(message) (\(hint))"
    }

    /// The key path written as in the file, e.g. `bands[2].min`.
    public var location: String {
        var text = ""
        for component in path {
            switch component {
            case .key(let key): text += text.isEmpty ? key : ".\(key)"
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }
}

extension InstrumentDefinition {
    /// Every inconsistency in this definition; empty when it can be used to score.
    public func validate() -> [DefinitionIssue] {
        var issues: [DefinitionIssue] = []
        func issue(_ path: [DefinitionIssue.PathComponent], _ message: String, _ hint: String) {
            issues.append(DefinitionIssue(path: path, message: message, hint: hint))
        }
        let itemNumbers = 1...max(items.count, 1)

        if items.isEmpty {
            issue([.key("items")], "the instrument has no items", "list at least one item")
        }
        if options.isEmpty && items.contains(where: { $0.options == nil }) {
            issue([.key("options")], "no response options", "list the options with their values, e.g. `- { value: 0, label: Not at all }`")
        }
        checkOptions(options, path: [.key("options")], into: &issues)
        for (index, item) in items.enumerated() {
            if let own = item.options {
                checkOptions(own, path: [.key("items"), .index(index), .key("options")], into: &issues)
            }
        }
        var seenItemIDs: Set<String> = []
        for (index, item) in items.enumerated() where !seenItemIDs.insert(item.id).inserted {
            issue([.key("items"), .index(index), .key("id")], "item id `\(item.id)` is used twice", "give every item its own id")
        }

        for (index, number) in reverseItems.enumerated() where !itemNumbers.contains(number) || items.isEmpty {
            issue([.key("reverse_items"), .index(index)], "reverse item \(number) does not exist", "items are numbered 1…\(items.count)")
        }
        if let count = itemCount {
            if count.min < 1 || count.max > items.count || count.min > count.max {
                issue([.key("item_count")], "item_count \(count.min)…\(count.max) does not fit the \(items.count) items",
                      "use 1 ≤ min ≤ max ≤ \(items.count)")
            }
        }
        if missing.maxMissing < 0 || missing.maxMissing >= max(items.count, 1) {
            issue([.key("missing"), .key("max_missing")], "max_missing \(missing.maxMissing) is out of range",
                  "use 0…\(max(items.count - 1, 0))")
        }
        if missing.maxMissing > 0 && missing.method == .none {
            issue([.key("missing"), .key("method")], "max_missing is \(missing.maxMissing) but the method is `none`",
                  "set method to prorate_sum or mean_of_answered, or max_missing to 0")
        }
        if missing.method == .prorateSum && total.kind != .sum {
            issue([.key("missing"), .key("method")], "prorate_sum applies only to a summed total",
                  "mean-based totals use mean_of_answered")
        }
        for (index, rule) in notApplicable.enumerated() where !itemNumbers.contains(rule.item) {
            issue([.key("not_applicable"), .index(index), .key("item")], "item \(rule.item) does not exist", "items are numbered 1…\(items.count)")
        }
        for (index, number) in total.items.enumerated() where !itemNumbers.contains(number) {
            issue([.key("total"), .key("items"), .index(index)], "total item \(number) does not exist", "items are numbered 1…\(items.count)")
        }
        for (s, subscale) in subscales.enumerated() {
            for (index, number) in subscale.items.enumerated() where !itemNumbers.contains(number) {
                issue([.key("subscales"), .index(s), .key("items"), .index(index)], "subscale item \(number) does not exist",
                      "items are numbered 1…\(items.count)")
            }
            if subscale.items.isEmpty {
                issue([.key("subscales"), .index(s), .key("items")], "subscale `\(subscale.id)` has no items", "list its item numbers")
            }
        }
        for (index, pair) in zip(transform.indices.dropFirst(), zip(transform, transform.dropFirst())) {
            if pair.1.raw <= pair.0.raw {
                issue([.key("transform"), .index(index), .key("raw")], "raw score \(pair.1.raw) is not above \(pair.0.raw)",
                      "list the conversion table in increasing raw order without repeats")
            }
        }
        for (index, pair) in zip(bands.indices.dropFirst(), zip(bands, bands.dropFirst())) where pair.1.min <= pair.0.min {
            issue([.key("bands"), .index(index), .key("min")],
                  "band `\(pair.1.id)` starts at \(format(pair.1.min)), overlapping `\(pair.0.id)` which starts at \(format(pair.0.min))",
                  "list bands in increasing order of `min`, each starting above the previous one")
        }
        var seenBands: Set<String> = []
        for (index, band) in bands.enumerated() where !seenBands.insert(band.id).inserted {
            issue([.key("bands"), .index(index), .key("id")], "band id `\(band.id)` is used twice", "give every band its own id")
        }
        for (index, risk) in riskItems.enumerated() {
            if !itemNumbers.contains(risk.item) || items.isEmpty {
                issue([.key("risk_items"), .index(index), .key("item")], "risk item \(risk.item) does not exist",
                      "items are numbered 1…\(items.count)")
            }
            if risk.flag.isEmpty {
                issue([.key("risk_items"), .index(index), .key("flag")], "the risk flag has no id", "name the flag, e.g. PHQ9_ITEM9_POSITIVE")
            }
        }
        if let rule = reliableChange, !(rule.threshold > 0) {
            issue([.key("reliable_change")], "the reliable change threshold is not positive", "use a positive number of points")
        }
        if case .jacobsonTruax(_, let reliability, _, _) = reliableChange, !(0..<1).contains(reliability) {
            issue([.key("reliable_change"), .key("reliability")], "reliability \(reliability) is outside 0…1", "use Cronbach's α or test–retest r, e.g. 0.9")
        }
        return issues
    }

    private func checkOptions(_ options: [ResponseOption], path: [DefinitionIssue.PathComponent], into issues: inout [DefinitionIssue]) {
        for (index, pair) in zip(options.indices.dropFirst(), zip(options, options.dropFirst())) where pair.1.value <= pair.0.value {
            issues.append(DefinitionIssue(
                path: path + [.index(index), .key("value")],
                message: "option value \(pair.1.value) is not above the previous value \(pair.0.value)",
                hint: "list options in increasing order of value, without repeats"
            ))
        }
    }
}

func format(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e15 {
        return String(Int(value))
    }
    return String(value)
}
