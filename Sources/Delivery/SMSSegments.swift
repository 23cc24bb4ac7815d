/// How many SMS parts a text needs: GSM-7 160/153 characters, UCS-2 70/67 units (references/reliability.md §2.5).
///
/// Counted over Unicode scalars, not grapheme clusters: a CRLF is one Swift `Character` but two GSM-7 septets, and a
/// provider encodes what it is sent scalar by scalar.
public enum SMSSegments {
    /// The GSM 03.38 basic character set.
    static let basic: Set<Unicode.Scalar> = Set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà".unicodeScalars)
    /// Extension characters: each costs two septets (escape + character).
    static let extended: Set<Unicode.Scalar> = Set("^{}\\[~]|€\u{0C}".unicodeScalars)

    public enum Encoding: String, Sendable {
        case gsm7 = "GSM-7"
        case ucs2 = "UCS-2"
    }

    /// The encoding, the length in that encoding's units, and the number of parts.
    public static func count(_ text: String) -> (encoding: Encoding, units: Int, segments: Int) {
        var septets = 0
        var isGSM = true
        for scalar in text.unicodeScalars {
            if basic.contains(scalar) {
                septets += 1
            } else if extended.contains(scalar) {
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
