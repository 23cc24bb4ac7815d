import Foundation
import Instruments

/// Reads `config/instruments/*.yaml` into validated definitions.
enum InstrumentLoader {
    static let keys = ["id", "version", "title", "licence", "stem", "direction", "options", "items", "item_count",
                       "reverse_items", "missing", "not_applicable", "total", "transform", "subscales", "bands",
                       "caseness", "reliable_change", "risk_items", "assumptions", "sources"]

    /// Loads every `*.yaml` in `directory`, sorted by name; problems go to `log`.
    static func loadDirectory(_ directory: String, displayPrefix: String, log: ProblemLog) -> [InstrumentDefinition] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        if names.isEmpty {
            log.add(displayPrefix, nil, "no instrument definitions found", hint: "add one YAML file per instrument, e.g. phq9.yaml")
        }
        var definitions: [InstrumentDefinition] = []
        var seen: [String: String] = [:]
        for name in names {
            let display = "\(displayPrefix)/\(name)"
            guard let value = YAMLValue.load(path: "\(directory)/\(name)", displayName: display, log: log),
                  let definition = read(value) else { continue }
            if let other = seen[definition.id] {
                log.add(display, value.line(at: ["id"]), "instrument id `\(definition.id)` is also defined in \(other)",
                        hint: "give each instrument its own id, or bump `version` in one file and delete the other")
                continue
            }
            seen[definition.id] = display
            definitions.append(definition)
        }
        return definitions
    }

    /// Reads one definition; nil when any field is wrong (each problem is in the log).
    static func read(_ value: YAMLValue) -> InstrumentDefinition? {
        let before = value.log.problems.count
        guard let f = value.fields(keys, what: "an instrument definition") else { return nil }
        let id = f.required("id")?.string(what: "id")
        let version = f.required("version", hint: "add `version: \"1.0.0\"`; bump it whenever a rule changes")?.string(what: "version")
        let title = f.required("title")?.string(what: "title")
        let licence = f.required("licence", hint: "state the holder, terms, attribution and whether item text is shipped").flatMap(readLicence)
        let direction = f.required("direction")?.enumValue(Direction.self, what: "direction")
        let options = f.optional("options").flatMap { readOptions($0) } ?? []
        let items = f.required("items")?.list(what: "items")?.compactMap(readItem) ?? []
        let missing = f.required("missing", hint: "say how many items may be missing, e.g. `missing: { max_missing: 0, method: none, rounding: none }`").flatMap(readMissing)
        let total = f.required("total", hint: "e.g. `total: { kind: sum }`").flatMap(readTotal)
        let definition = InstrumentDefinition(
            id: id ?? "", version: version ?? "", title: title ?? "",
            licence: licence ?? Licence(holder: "", terms: "", attribution: "", itemTextShipped: false),
            stem: f.optional("stem")?.string(what: "stem"),
            direction: direction ?? .higherIsWorse,
            options: options, items: items,
            itemCount: f.optional("item_count").flatMap(readItemCount),
            reverseItems: f.optional("reverse_items").flatMap { intList($0, what: "reverse_items") } ?? [],
            missing: missing ?? MissingPolicy(maxMissing: 0, method: .none, rounding: .none),
            notApplicable: f.optional("not_applicable")?.list(what: "not_applicable")?.compactMap(readNotApplicable) ?? [],
            total: total ?? TotalRule(kind: .sum),
            transform: f.optional("transform")?.list(what: "transform")?.compactMap(readTransform) ?? [],
            subscales: f.optional("subscales")?.list(what: "subscales")?.compactMap(readSubscale) ?? [],
            bands: f.optional("bands")?.list(what: "bands")?.compactMap(readBand) ?? [],
            caseness: f.optional("caseness").flatMap(readCaseness),
            reliableChange: f.optional("reliable_change").flatMap(readReliableChange),
            riskItems: f.optional("risk_items")?.list(what: "risk_items")?.compactMap(readRisk) ?? [],
            assumptions: f.optional("assumptions")?.stringList(what: "assumptions") ?? [],
            sources: f.optional("sources")?.stringList(what: "sources") ?? []
        )
        if let id, !id.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) || id.isEmpty {
            value.log.add(value.file, value.line(at: ["id"]), "instrument id `\(id)` must be lower_snake_case", hint: "e.g. phq9, core10")
        }
        guard value.log.problems.count == before else { return nil }
        for issue in definition.validate() {
            let path = issue.path.map { component -> String in
                switch component {
                case .key(let key): return key
                case .index(let index): return String(index)
                }
            }
            value.log.add(value.file, value.line(at: path), "\(issue.location): \(issue.message)", hint: issue.hint)
        }
        return value.log.problems.count == before ? definition : nil
    }

    private static func readLicence(_ value: YAMLValue) -> Licence? {
        guard let f = value.fields(["holder", "terms", "attribution", "item_text"], what: "licence") else { return nil }
        let holder = f.required("holder")?.string(what: "holder")
        let terms = f.required("terms")?.string(what: "terms")
        let attribution = f.required("attribution")?.string(what: "attribution")
        let itemText = f.required("item_text", hint: "write `item_text: shipped` or `item_text: licensee_must_supply`")?.string(what: "item_text")
        if let itemText, itemText != "shipped" && itemText != "licensee_must_supply" {
            f["item_text"]?.problem("`\(itemText)` is not a valid item_text", hint: "use shipped or licensee_must_supply")
            return nil
        }
        guard let holder, let terms, let attribution, let itemText else { return nil }
        return Licence(holder: holder, terms: terms, attribution: attribution, itemTextShipped: itemText == "shipped")
    }

    private static func readOptions(_ value: YAMLValue) -> [ResponseOption]? {
        value.list(what: "options")?.compactMap { option in
            guard let f = option.fields(["value", "label"], what: "an option") else { return nil }
            guard let number = f.required("value")?.int(what: "value"), let label = f.required("label")?.string(what: "label") else { return nil }
            return ResponseOption(value: number, label: label)
        }
    }

    private static func readItem(_ value: YAMLValue) -> Item? {
        guard let f = value.fields(["id", "text", "options"], what: "an item") else { return nil }
        guard let id = f.required("id")?.string(what: "item id") else { return nil }
        return Item(id: id, text: f.optional("text")?.string(what: "text"), options: f.optional("options").flatMap(readOptions))
    }

    private static func readItemCount(_ value: YAMLValue) -> ItemCount? {
        guard let f = value.fields(["min", "max"], what: "item_count"),
              let min = f.required("min")?.int(what: "min"), let max = f.required("max")?.int(what: "max") else { return nil }
        return ItemCount(min: min, max: max)
    }

    private static func readMissing(_ value: YAMLValue) -> MissingPolicy? {
        guard let f = value.fields(["max_missing", "method", "rounding"], what: "missing") else { return nil }
        guard let maxMissing = f.required("max_missing")?.int(what: "max_missing"),
              let method = f.required("method")?.enumValue(MissingPolicy.Method.self, what: "missing method"),
              let rounding = f.required("rounding")?.enumValue(MissingPolicy.Rounding.self, what: "rounding") else { return nil }
        return MissingPolicy(maxMissing: maxMissing, method: method, rounding: rounding)
    }

    private static func readNotApplicable(_ value: YAMLValue) -> NotApplicableRule? {
        guard let f = value.fields(["item", "context"], what: "a not_applicable rule"),
              let item = f.required("item")?.int(what: "item"), let context = f.required("context")?.string(what: "context") else { return nil }
        return NotApplicableRule(item: item, context: context)
    }

    private static func readTotal(_ value: YAMLValue) -> TotalRule? {
        guard let f = value.fields(["kind", "items"], what: "total"),
              let kind = f.required("kind")?.enumValue(TotalRule.Kind.self, what: "total kind") else { return nil }
        return TotalRule(kind: kind, items: f.optional("items").flatMap { intList($0, what: "total items") } ?? [])
    }

    private static func readTransform(_ value: YAMLValue) -> TransformEntry? {
        guard let f = value.fields(["raw", "score"], what: "a transform row"),
              let raw = f.required("raw")?.int(what: "raw"), let score = f.required("score")?.double(what: "score") else { return nil }
        return TransformEntry(raw: raw, score: score)
    }

    private static func readSubscale(_ value: YAMLValue) -> Subscale? {
        guard let f = value.fields(["id", "label", "kind", "items", "max_missing"], what: "a subscale"),
              let id = f.required("id")?.string(what: "id"), let label = f.required("label")?.string(what: "label"),
              let kind = f.required("kind")?.enumValue(TotalRule.Kind.self, what: "subscale kind"),
              let items = f.required("items").flatMap({ intList($0, what: "subscale items") }) else { return nil }
        return Subscale(id: id, label: label, kind: kind, items: items, maxMissing: f.optional("max_missing")?.int(what: "max_missing") ?? 0)
    }

    private static func readBand(_ value: YAMLValue) -> Band? {
        guard let f = value.fields(["id", "label", "min"], what: "a band"),
              let id = f.required("id")?.string(what: "band id"), let label = f.required("label")?.string(what: "label"),
              let min = f.required("min", hint: "give the band's lower bound, e.g. `min: 10`")?.double(what: "min") else { return nil }
        return Band(id: id, label: label, min: min)
    }

    private static func readCaseness(_ value: YAMLValue) -> Caseness? {
        guard let f = value.fields(["threshold", "source"], what: "caseness"),
              let threshold = f.required("threshold")?.double(what: "threshold") else { return nil }
        return Caseness(threshold: threshold, source: f.optional("source")?.string(what: "source"))
    }

    private static func readReliableChange(_ value: YAMLValue) -> ReliableChangeRule? {
        guard let f = value.fields(["points", "sd", "reliability", "z", "source"], what: "reliable_change") else { return nil }
        let source = f.optional("source")?.string(what: "source")
        if let points = f.optional("points") {
            return points.double(what: "points").map { .points($0, source: source) }
        }
        guard let sd = f.required("sd", hint: "give either `points: 6` or `sd`, `reliability` and `z` for Jacobson–Truax")?.double(what: "sd"),
              let reliability = f.required("reliability")?.double(what: "reliability") else { return nil }
        let z = f.optional("z")?.double(what: "z") ?? 1.96
        return .jacobsonTruax(sd: sd, reliability: reliability, z: z, source: source)
    }

    private static func readRisk(_ value: YAMLValue) -> RiskItem? {
        guard let f = value.fields(["item", "above", "flag", "unanswered_flag"], what: "a risk item"),
              let item = f.required("item")?.int(what: "item"), let above = f.required("above")?.int(what: "above"),
              let flag = f.required("flag")?.string(what: "flag") else { return nil }
        return RiskItem(item: item, above: above, flag: flag, unansweredFlag: f.optional("unanswered_flag")?.string(what: "unanswered_flag"))
    }

    private static func intList(_ value: YAMLValue, what: String) -> [Int]? {
        guard let items = value.list(what: what) else { return nil }
        let numbers = items.compactMap { $0.int(what: "each of \(what)") }
        return numbers.count == items.count ? numbers : nil
    }
}
