/// Phrases in free text that a person reads at once (`intake.risk_phrases` in rom.yaml).
///
/// A safety net, not a classifier: it errs towards flagging, and a reply it misses still reaches the team inbox.
/// Matching ignores case, spacing and punctuation but keeps word boundaries: `can't do this any more` matches
/// "I CANT do this anymore!!" but `end it all` does not match "spend it all".
public struct RiskPhrases: Sendable, Equatable {
    /// The phrases as written in the configuration.
    public let phrases: [String]
    let keys: [(phrase: String, joined: String)]

    /// The list shipped in `config/rom.yaml`, used when the setting is absent.
    public static let defaults = [
        "suicide", "suicidal", "kill myself", "killing myself", "end my life", "take my own life", "want to die", "wish I was dead",
        "better off dead", "end it all", "no reason to live", "can't go on", "can't do this any more", "hurt myself", "harm myself",
        "self harm", "overdose", "not safe",
    ]

    public init(_ phrases: [String]) {
        self.phrases = phrases
        self.keys = phrases.compactMap { phrase in
            let joined = Self.words(phrase).joined()
            return joined.isEmpty ? nil : (phrase, joined)
        }
    }

    public static func == (lhs: RiskPhrases, rhs: RiskPhrases) -> Bool { lhs.phrases == rhs.phrases }

    /// The first configured phrase found in `text`, or nil.
    public func firstMatch(in text: String) -> String? {
        let words = Self.words(text)
        guard !words.isEmpty else { return nil }
        for key in keys {
            // A run of whole words whose letters, joined, spell the phrase's letters joined.
            for start in words.indices {
                var run = ""
                for word in words[start...] {
                    run += word
                    if run == key.joined { return key.phrase }
                    if run.count >= key.joined.count || !key.joined.hasPrefix(run) { break }
                }
            }
        }
        return nil
    }

    /// Lower-cased runs of letters and digits; apostrophes join (`can't` → `cant`), everything else separates.
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if character == "'" || character == "’" || character == "`" {
                continue
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
