import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Storage

/// Entity tags for the states clients change and can race on (a person's mode and goals, a flag's status), and the
/// `If-Match` check (RFC 9110 §13.1.1, strong comparison): a change decided on a state that is no longer current is
/// refused with 412 and the current tag, never applied over someone else's.
enum EntityTag {
    static func of(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts { hasher.update(data: Data((part + "\u{1F}").utf8)) }
        return "\"" + Hex.encode(hasher.finalize()).prefix(24) + "\""
    }

    static func of(mode: ModeState) -> String { of(["mode", mode.mode, mode.changedAt.map { String($0.millis) } ?? "-"]) }
    static func of(goals: [String]) -> String { of(["goals"] + goals) }
    static func of(flag: FlagRecord) -> String {
        of(["flag", flag.id, flag.status, flag.acknowledgedAt.map { String($0.millis) } ?? "-", flag.actionedAt.map { String($0.millis) } ?? "-", flag.note ?? "-"])
    }

    /// The request's If-Match as a test on the current tag, or nil when it has none (the change applies to whatever is current).
    static func ifMatch(_ request: Request) -> (@Sendable (String) -> Bool)? {
        guard let header = request.headers[.ifMatch] else { return nil }
        let tags = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if tags.contains("*") { return { _ in true } }
        return { current in tags.contains(current) }
    }

    static func preconditionFailed(current: String) -> APIError {
        APIError(status: .preconditionFailed, code: "precondition_failed",
                 message: "it changed since you read it (If-Match does not match); read it again, decide again, and send the new ETag",
                 headers: [.eTag: current])
    }
}

extension Response {
    func tagged(_ tag: String) -> Response {
        var response = self
        response.headers[.eTag] = tag
        return response
    }
}
