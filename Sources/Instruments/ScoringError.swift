/// Why a set of answers cannot be scored at all (as opposed to "too many missing", which is a valid, unscored result).
///
/// Each case carries what a person needs to fix the input, and a stable `code` for JSON.
public enum ScoringError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An answer outside the item's response values.
    case outOfRange(form: Form, item: Int, value: Int, allowed: [Int])
    /// Too few or too many answers for the instrument.
    case wrongItemCount(form: Form, instrument: String, expected: ClosedRange<Int>, got: Int, note: String?)
    /// A value that is not a whole number (2.5, "1", true).
    case nonInteger(form: Form, item: Int, text: String)
    /// The answers are not a list at all.
    case wrongType(form: Form, description: String)
    case unknownInstrument(id: String, known: [String])
    /// Answers that contradict each other or the context.
    case inconsistentInput(form: Form, message: String)

    /// Which set of answers was wrong.
    public enum Form: String, Sendable, Equatable {
        case answers
        case baseline
    }

    /// Stable machine code for JSON and logs.
    public var code: String {
        switch self {
        case .outOfRange: return "out_of_range"
        case .wrongItemCount: return "wrong_item_count"
        case .nonInteger: return "non_integer"
        case .wrongType: return "wrong_type"
        case .unknownInstrument: return "unknown_instrument"
        case .inconsistentInput: return "inconsistent_input"
        }
    }

    /// The item (1-based) the problem is with, when it is one item's answer.
    public var item: Int? {
        switch self {
        case .outOfRange(_, let item, _, _), .nonInteger(_, let item, _): return item
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .outOfRange(let form, let item, let value, let allowed):
            return "\(Self.prefix(form))item \(item): \(value) is not one of the allowed answers \(Self.list(allowed))"
        case .wrongItemCount(let form, let instrument, let expected, let got, let note):
            let want = expected.lowerBound == expected.upperBound
                ? "\(expected.lowerBound)" : "\(expected.lowerBound) to \(expected.upperBound)"
            var text = "\(Self.prefix(form))\(instrument) takes \(want) answers; got \(got)"
            if let note { text += ". \(note)" }
            return text
        case .nonInteger(let form, let item, let text):
            return "\(Self.prefix(form))item \(item): `\(text)` is not a whole number; answer with the value printed on the form, or - for unanswered"
        case .wrongType(let form, let description):
            return "\(Self.prefix(form))\(description)"
        case .unknownInstrument(let id, let known):
            return "unknown instrument `\(id)`; known instruments: \(known.joined(separator: ", "))"
        case .inconsistentInput(let form, let message):
            return "\(Self.prefix(form))\(message)"
        }
    }

    private static func prefix(_ form: Form) -> String {
        form == .baseline ? "baseline " : ""
    }

    private static func list(_ values: [Int]) -> String {
        guard let first = values.first, let last = values.last else { return "(none)" }
        if values == Array(first...last) { return "\(first)–\(last)" }
        return values.map(String.init).joined(separator: ", ")
    }
}
