import Scheduling
import Yams

import Foundation

/// A node of a YAML config file that knows its file and line, and records a problem when read as the wrong thing.
///
/// Readers return nil after recording a problem, so loading goes on and reports every problem at once.
struct YAMLValue {
    let node: Node
    let file: String
    let log: ProblemLog

    var line: Int? { node.mark?.line }

    /// Parses a whole file; records a problem (with the parser's line) and returns nil when it is not valid YAML.
    static func load(path: String, displayName: String, log: ProblemLog) -> YAMLValue? {
        guard let data = FileManager.default.contents(atPath: path) else {
            log.add(displayName, nil, "cannot read the file", hint: "check that it exists and is readable")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            log.add(displayName, nil, "the file is not UTF-8 text", hint: "save it as UTF-8")
            return nil
        }
        return parse(text, displayName: displayName, log: log)
    }

    /// Yams resolves tags with shared `NSRegularExpression`s, which crash when used from two threads at once
    /// on Linux; parsing is rare (start-up, `config check`), so one lock is enough.
    private static let parseLock = NSLock()

    static func parse(_ text: String, displayName: String, log: ProblemLog) -> YAMLValue? {
        do {
            let composed = try parseLock.withLock { try Yams.compose(yaml: text) }
            guard let node = composed else {
                log.add(displayName, 1, "the file is empty", hint: "see the example in config/ for what belongs here")
                return nil
            }
            return YAMLValue(node: node, file: displayName, log: log)
        } catch let error as YamlError {
            let (line, problem) = describe(error)
            log.add(displayName, line, "not valid YAML: \(problem)",
                    hint: "check the indentation (spaces, not tabs; children indented more than their parent) and that every `key:` has a space after the colon")
            return nil
        } catch {
            log.add(displayName, nil, "not valid YAML: \(error)")
            return nil
        }
    }

    private static func describe(_ error: YamlError) -> (Int?, String) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let extra = context.map { " (\($0.text))" } ?? ""
            return (mark.line, problem + extra)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (context.mark.line, "the key `\(duplicates.joined(separator: "`, `"))` appears twice in one mapping")
        default:
            return (nil, String(describing: error))
        }
    }

    func problem(_ message: String, hint: String = "") {
        log.add(file, line, message, hint: hint)
    }

    // MARK: - Shapes

    /// The entries of a mapping, in file order; records a problem for keys outside `allowed` (when given).
    func mapping(allowed: [String]? = nil, what: String = "this") -> [(key: String, value: YAMLValue)]? {
        guard case .mapping(let mapping) = node else {
            problem("expected \(what) to be a mapping of `key: value` lines, found \(kindName)",
                    hint: "indent its fields under it, e.g. `\(allowed?.first ?? "name"): …`")
            return nil
        }
        var entries: [(key: String, value: YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            let key = keyNode.scalar?.string ?? ""
            let value = YAMLValue(node: valueNode, file: file, log: log)
            if let allowed, !allowed.contains(key) {
                let suggestion = closest(to: key, in: allowed).map { "did you mean `\($0)`? " } ?? ""
                log.add(file, keyNode.mark?.line, "unknown key `\(key)`",
                        hint: "\(suggestion)allowed keys here: \(allowed.joined(separator: ", "))")
                continue
            }
            entries.append((key, value))
        }
        return entries
    }

    /// A mapping as a dictionary with its allowed keys checked.
    func fields(_ allowed: [String], what: String = "this") -> Fields? {
        guard let entries = mapping(allowed: allowed, what: what) else { return nil }
        return Fields(owner: self, values: Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first }))
    }

    func list(what: String = "this") -> [YAMLValue]? {
        guard case .sequence(let sequence) = node else {
            problem("expected \(what) to be a list, found \(kindName)",
                    hint: "write a list as `[a, b]` or as lines starting with `- `")
            return nil
        }
        return sequence.map { YAMLValue(node: $0, file: file, log: log) }
    }

    var isScalar: Bool { node.scalar != nil }

    var isNull: Bool {
        if case .scalar(let scalar) = node { return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) }
        return false
    }

    func string(what: String = "this") -> String? {
        guard case .scalar(let scalar) = node, !isNull else {
            problem("expected \(what) to be text, found \(kindName)", hint: "write a single value on the same line as its key")
            return nil
        }
        return scalar.string
    }

    func int(what: String = "this", range: ClosedRange<Int>? = nil) -> Int? {
        guard let text = string(what: what) else { return nil }
        guard let value = Int(text) else {
            problem("`\(text)` is not a whole number", hint: "write \(what) as digits, e.g. 2")
            return nil
        }
        if let range, !range.contains(value) {
            problem("\(what) \(value) is out of range", hint: "use a value from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return value
    }

    func double(what: String = "this") -> Double? {
        guard let text = string(what: what) else { return nil }
        guard let value = Double(text), value.isFinite else {
            problem("`\(text)` is not a number", hint: "write \(what) as a number, e.g. 10 or 7.7")
            return nil
        }
        return value
    }

    func bool(what: String = "this") -> Bool? {
        guard let text = string(what: what) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem("`\(text)` is not true or false", hint: "write \(what) as true or false")
            return nil
        }
    }

    func duration(what: String = "this") -> TimeSpan? {
        guard let text = string(what: what) else { return nil }
        guard let span = TimeSpan.parse(text.trimmingCharacters(in: .whitespaces)) else {
            problem("`\(text)` is not a duration", hint: "write a whole number and a unit: 28d, 4w, 36h, 90m or 30s")
            return nil
        }
        return span
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ type: E.Type, what: String) -> E? where E.RawValue == String {
        guard let text = string(what: what) else { return nil }
        guard let value = E(rawValue: text) else {
            let options = E.allCases.map(\.rawValue)
            let suggestion = closest(to: text, in: options).map { "did you mean `\($0)`? " } ?? ""
            problem("`\(text)` is not a valid \(what)", hint: "\(suggestion)use one of: \(options.joined(separator: ", "))")
            return nil
        }
        return value
    }

    func stringList(what: String) -> [String]? {
        guard let items = list(what: what) else { return nil }
        let strings = items.compactMap { $0.string(what: "each of \(what)") }
        return strings.count == items.count ? strings : nil
    }

    var kindName: String {
        switch node {
        case .scalar: return isNull ? "nothing" : "a single value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The line of the node at `path` below this one, for locating a problem found after loading.
    func line(at path: [String]) -> Int? {
        var current = node
        var best = node.mark?.line
        for component in path {
            switch current {
            case .mapping(let mapping):
                guard let next = mapping.first(where: { $0.key.scalar?.string == component })?.value else { return best }
                current = next
            case .sequence(let sequence):
                guard let index = Int(component), sequence.indices.contains(index) else { return best }
                current = sequence[index]
            default:
                return best
            }
            best = current.mark?.line ?? best
        }
        return best
    }
}

/// The fields of one mapping, read by name.
struct Fields {
    let owner: YAMLValue
    let values: [String: YAMLValue]

    subscript(key: String) -> YAMLValue? { values[key] }

    /// The field, or a problem saying it is missing.
    func required(_ key: String, hint: String = "") -> YAMLValue? {
        if let value = values[key], !value.isNull { return value }
        owner.problem("`\(key)` is missing", hint: hint.isEmpty ? "add `\(key): …`" : hint)
        return nil
    }

    func optional(_ key: String) -> YAMLValue? {
        guard let value = values[key], !value.isNull else { return nil }
        return value
    }
}
