public import Foundation

/// `application/x-www-form-urlencoded` bodies, and the check-in form's answer fields (`a.<prompt>.<item>`).
public enum FormFields {
    /// Field names to values; a repeated name keeps its last value.
    public static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for (key, value) in pairs(text) { values[key] = value }
        return values
    }

    /// Fields in the order sent, for signature checks that cover every parameter.
    public static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// Answer fields grouped by prompt id, item number → value; values that are not whole numbers are unanswered.
    public static func answersByPrompt(_ fields: [String: String]) -> [String: [Int: Int]] {
        var grouped: [String: [Int: Int]] = [:]
        for (name, value) in fields where name.hasPrefix("a.") {
            let parts = name.dropFirst(2).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let item = Int(parts[1]), item >= 1, item <= 200 else { continue }
            let prompt = String(parts[0])
            if let number = Int(value.trimmingCharacters(in: .whitespaces)) {
                grouped[prompt, default: [:]][item] = number
            } else {
                grouped[prompt, default: [:]] = grouped[prompt] ?? [:]
            }
        }
        return grouped
    }

    /// Items 1…`count` in order, nil where unanswered; for instruments with a variable number of items (goals) the
    /// unanswered tail beyond `minimum` is dropped.
    public static func list(_ items: [Int: Int], count: Int, variableMinimum minimum: Int?) -> [Int?] {
        var values: [Int?] = (1...max(count, 1)).map { items[$0] }
        if let minimum {
            while values.count > minimum, values.last == .some(nil) { values.removeLast() }
        }
        return values
    }
}
