import Foundation
import HTTPTypes
import Hummingbird

/// Small helpers for server-rendered pages: escaping and one accessible layout with no third-party resources.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let style = """
    body{font-family:Arial,Helvetica,sans-serif;font-size:19px;line-height:1.4;margin:0;color:#0b0c0c}
    header{background:#005eb8;color:#fff;padding:12px 20px}header a{color:#fff}
    main{max-width:960px;margin:0 auto;padding:20px}
    a{color:#1d70b8}a:focus,button:focus,input:focus{outline:3px solid #ffdd00;box-shadow:0 4px #0b0c0c}
    table{border-collapse:collapse;width:100%}th,td{text-align:left;border-bottom:1px solid #b1b4b6;padding:8px 4px;vertical-align:top}
    label{display:block;font-weight:bold;margin:12px 0 4px}input[type=text],input[type=password]{font-size:19px;padding:6px;width:100%;max-width:30em}
    button{font-size:19px;background:#00703c;color:#fff;border:0;padding:8px 16px;margin-top:12px;cursor:pointer}
    .error{border-left:5px solid #d4351c;padding-left:12px;color:#d4351c}.muted{color:#505a5f}
    code{background:#f3f2f1;padding:1px 4px;word-break:break-all}
    """

    /// A whole page with the service's layout.
    static func page(title: String, body: String, signedIn: Bool = false) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) – rom</title><style>\(style)</style></head>
        <body><header><strong>rom</strong> · \(escape(title))\(signedIn ? " · <form method=\"post\" action=\"/logout\" style=\"display:inline\"><button style=\"margin:0;padding:2px 8px;font-size:16px;background:#1d70b8\">Sign out</button></form>" : "")</header>
        <main>\(body)</main></body></html>
        """
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on form posts, and every staff
        // form would then fail the same-origin check. Other sites still never see our URLs (check-in tokens in them).
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// A JSON error body: `{"error": {"code": "…", "message": "…"}}`.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    /// Stable, for programs: the problem type is `tag:rom,2026:problems/<code>`.
    var code: String
    /// What was wrong and how to fix it, for people.
    var message: String
    /// Each field that was wrong, with why.
    var details: [String: [String]]? = nil
    /// Seconds for a Retry-After header (429, 503).
    var retryAfter: Int? = nil
    /// The answer (1-based item number) that was wrong.
    var item: Int? = nil
    /// Extra headers (an ETag on 412).
    var headers: HTTPFields = [:]

    /// RFC 9457 problem details, with our `code` and, when known, `errors` and `item` as extension members.
    struct Problem: Codable, Equatable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
        var errors: [String: [String]]?
        var item: Int?
    }

    var problem: Problem {
        Problem(type: "tag:rom,2026:problems/\(code)", title: status.reasonPhrase, status: status.code, detail: message, code: code,
                errors: details, item: item)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(problem)
        var headers = headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Encodes a value as a JSON response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    try Routes.Answer.json(value, status: status).response()
}

