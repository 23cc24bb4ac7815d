/// Turns answers as typed or sent into the scorer's `[Int?]`, naming the item when one is wrong.
public enum AnswerParsing {
    /// One answer as it arrived in JSON.
    public enum RawAnswer: Sendable, Equatable {
        case integer(Int)
        case number(Double)
        case text(String)
        case bool(Bool)
        case null
    }

    /// Parses a comma-separated list such as `1,2,0,-,3`; `-` or an empty field means unanswered.
    public static func parseList(_ text: String, form: ScoringError.Form = .answers) throws(ScoringError) -> [Int?] {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty { return [] }
        var answers: [Int?] = []
        for (index, field) in trimmed.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let value = String(field).trimmingWhitespace()
            if value.isEmpty || value == "-" {
                answers.append(nil)
            } else if let number = Int(value) {
                answers.append(number)
            } else {
                throw .nonInteger(form: form, item: index + 1, text: value)
            }
        }
        return answers
    }

    /// Checks JSON values strictly: numbers must be whole; strings and booleans are refused.
    public static func parse(_ raw: [RawAnswer], form: ScoringError.Form = .answers) throws(ScoringError) -> [Int?] {
        var answers: [Int?] = []
        answers.reserveCapacity(raw.count)
        for (index, value) in raw.enumerated() {
            switch value {
            case .integer(let number):
                answers.append(number)
            case .number(let number):
                guard number == number.rounded(), let exact = Int(exactly: number) else {
                    throw .nonInteger(form: form, item: index + 1, text: String(number))
                }
                answers.append(exact)
            case .text(let text):
                throw .nonInteger(form: form, item: index + 1, text: "\"\(text)\"")
            case .bool(let flag):
                throw .nonInteger(form: form, item: index + 1, text: String(flag))
            case .null:
                answers.append(nil)
            }
        }
        return answers
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
