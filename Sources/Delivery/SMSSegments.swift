/// How many SMS parts a text needs: GSM-7 160/153 characters, UCS-2 70/67 units (references/reliability.md §2.5).
public enum SMSSegments {
    /// The GSM 03.38 basic character set.
    static let basic: Set<Character> = Set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
    /// Extension characters: each costs two septets (escape + character).
    static let extended: Set<Character> = Set("^{}\\[~]|€\u{0C}")

    public enum Encoding: String, Sendable {
        case gsm7 = "GSM-7"
        case ucs2 = "UCS-2"
    }

    /// The encoding, the length in that encoding's units, and the number of parts.
    public static func count(_ text: String) -> (encoding: Encoding, units: Int, segments: Int) {
        var septets = 0
        var isGSM = true
        for character in text {
            if basic.contains(character) {
                septets += 1
            } else if extended.contains(character) {
                septets += 2
            } else {
                isGSM = false
                break
            }
        }
        if isGSM {
            return (.gsm7, septets, septets <= 160 ? (septets == 0 ? 0 : 1) : (septets + 152) / 153)
        }
        let units = text.utf16.count
        return (.ucs2, units, units <= 70 ? (units == 0 ? 0 : 1) : (units + 66) / 67)
    }
}
