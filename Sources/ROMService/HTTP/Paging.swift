import Foundation
import Hummingbird

/// `limit` and `cursor` on every list: a page holds at most `limit` items in the list's fixed order; a page that is
/// not the last says `next_cursor`, an opaque token of its last item's place in that order. Tokens are base64url of a
/// JSON array of strings, so a tampered one is refused as 400 `invalid_cursor` instead of being guessed at.
struct PageRequest: Sendable, Equatable {
    static let defaultLimit = 100
    static let maxLimit = 1000

    var limit: Int
    /// The previous page's last item's sort key, or nil for the first page.
    var after: [String]?

    init(limit: Int = Self.defaultLimit, after: [String]? = nil) {
        self.limit = limit
        self.after = after
    }

    /// From the query string; 400 with what to send instead for a bad `limit` or `cursor`.
    init(_ request: Request, keyLength: Int) throws {
        let query = request.uri.queryParameters
        limit = Self.defaultLimit
        if let text = query["limit"].map(String.init) {
            guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
                throw APIError(status: .badRequest, code: "invalid_limit", message: "`limit` must be a whole number from 1 to \(Self.maxLimit)")
            }
            limit = value
        }
        after = nil
        if let text = query["cursor"].map(String.init) {
            guard let key = Self.decode(text), key.count == keyLength else { throw Self.invalidCursor }
            after = key
        }
    }

    static let invalidCursor = APIError(status: .badRequest, code: "invalid_cursor",
                                        message: "`cursor` is not one this list gave out; pass `next_cursor` from the previous page unchanged, or leave it out for the first page")

    /// A whole-number part of the cursor's key (a time in ms); a tampered one is `invalid_cursor`.
    static func number(_ part: String) throws -> Int64 {
        guard let value = Int64(part) else { throw invalidCursor }
        return value
    }

    static func encode(_ key: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: key)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> [String]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let array = try? JSONSerialization.jsonObject(with: data) as? [Any] else { return nil }
        let strings = array.compactMap { $0 as? String }
        return strings.count == array.count ? strings : nil
    }

    /// One page from `fetched` (read with `limit + 1` so the extra one says whether more follow).
    func page<T>(_ fetched: [T], key: (T) -> [String]) -> (items: [T], nextCursor: String?) {
        guard fetched.count > limit else { return (fetched, nil) }
        let items = Array(fetched.prefix(limit))
        return (items, items.last.map { Self.encode(key($0)) })
    }
}

/// A page of a list under its key (`flags`, `items`), with `next_cursor` (null on the last page).
struct ListPage<Item: Encodable>: Encodable {
    var key: String
    var items: [Item]
    var nextCursor: String?

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(items, forKey: Key(stringValue: key))
        try container.encode(nextCursor, forKey: Key(stringValue: "next_cursor"))
    }
}

extension Routes {
    /// `status=open` (the default) or `status=all`; anything else is a 400 naming both.
    static func statusFilter(_ request: Request) throws -> String {
        let value = request.uri.queryParameters["status"].map(String.init) ?? "open"
        guard value == "open" || value == "all" else {
            throw APIError(status: .badRequest, code: "invalid_status", message: "`status` is open (the default) or all")
        }
        return value
    }
}
