/// What a person's SMS reply says, read the way people really type (references/reliability.md §2.4, R21).
///
/// Keywords are exact single words, case-insensitive, trimmed: `STOP` opts out, `Stop please` does not
/// (it is quarantined for a person to act on). Answers may carry a prompt code (`P7 1 2 0 …`), be separated by
/// spaces, commas, other punctuation or line breaks, or come as one run of digits (`120310210`) when every
/// answer is a single digit.
public enum SMSReply: Sendable, Equatable {
    case optOut
    case optIn
    case help
    /// Numbers in order, with the prompt code when the reply started with one.
    case answers(code: String?, values: [Int], compact: Bool)
    /// Words that sound like an opt-out but are not a keyword: a person must read it.
    case freeTextOptOut
    /// Nothing we can read as answers; the reason says why.
    case unreadable(reason: String)

    public static let optOutWords: Set<String> = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
    public static let optInWords: Set<String> = ["START", "UNSTOP", "YES"]
    public static let helpWords: Set<String> = ["HELP", "INFO"]
    /// Fragments that suggest a wish to stop, in free text.
    static let stopHints = ["STOP", "UNSUBSCRIBE", "DON'T TEXT", "DONT TEXT", "DO NOT TEXT", "NO MORE", "OPT OUT", "LEAVE ME ALONE", "REMOVE ME"]

    /// Reads one message body.
    public static func parse(_ text: String) -> SMSReply {
        let trimmed = text.trimmingSpaces().trimmingCharacters(whereIn: { $0 == "\n" || $0 == "\r" || $0 == "." || $0 == "!" })
        let upper = trimmed.uppercased()
        if optOutWords.contains(upper) { return .optOut }
        if optInWords.contains(upper) { return .optIn }
        if helpWords.contains(upper) { return .help }
        if trimmed.isEmpty { return .unreadable(reason: "the message is empty") }

        // Split on anything that is not a letter or a digit.
        let tokens = upper.split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
        var code: String?
        var rest = tokens[...]
        if let first = rest.first, let letter = first.first, letter.isLetter, first.dropFirst().allSatisfy(\.isASCIIDigit), first.count >= 2, first.count <= 6 {
            code = first
            rest = rest.dropFirst()
        }
        if rest.contains(where: { $0.contains(where: \.isLetter) }) {
            if stopHints.contains(where: { upper.contains($0) }) { return .freeTextOptOut }
            return .unreadable(reason: "the reply has words in it; reply with numbers only")
        }
        // Only the digits 0–9 are answers: "٣", "½" or a digit carrying a combining mark would otherwise vanish from
        // a run and shift every later answer onto the wrong item.
        if let odd = rest.first(where: { $0.contains { !$0.isASCIIDigit } }) {
            return .unreadable(reason: "`\(odd)` is not an answer; use the digits 0 to 9")
        }
        guard !rest.isEmpty else {
            return code == nil ? .unreadable(reason: "no numbers found") : .unreadable(reason: "a code but no answers")
        }
        if rest.count == 1, let only = rest.first, only.count > 1 {
            // One run of digits: one answer per digit.
            return .answers(code: code, values: only.compactMap { $0.wholeNumberValue }, compact: true)
        }
        var values: [Int] = []
        for token in rest {
            guard token.count <= 3, let value = Int(token) else { return .unreadable(reason: "`\(token)` is not an answer") }
            values.append(value)
        }
        return .answers(code: code, values: values, compact: false)
    }
}

extension Character {
    /// Exactly one of 0–9 (a range test on Characters would admit "0" followed by a combining mark).
    var isASCIIDigit: Bool { unicodeScalars.count == 1 && ("0"..."9").contains(unicodeScalars.first!) }
}

extension String {
    func trimmingCharacters(whereIn predicate: (Character) -> Bool) -> String {
        var slice = Substring(self)
        while let first = slice.first, predicate(first) || first == " " { slice = slice.dropFirst() }
        while let last = slice.last, predicate(last) || last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
