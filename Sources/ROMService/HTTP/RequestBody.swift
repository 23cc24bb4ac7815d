import Foundation
import Hummingbird

/// Request bodies decode into types: a body that is not JSON, or JSON of the wrong shape, is a 400 naming the field
/// and what it should be (the document, /api/v1/openapi.json, gives every body's schema).
enum RequestBody {
    /// `T` from the JSON body (at most `limit` bytes; larger is 413). An empty body decodes as `{}` when `emptyAsObject`.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 64 * 1024, emptyAsObject: Bool = false) async throws -> T {
        let buffer = try await request.body.collect(upTo: limit)
        let data = buffer.readableBytes == 0 && emptyAsObject ? Data("{}".utf8) : Data(buffer.readableBytesView)
        return try decode(type, from: data)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw APIError(status: .badRequest, code: "invalid_json", message: describe(error))
        }
    }

    /// Where in the body the problem is, and what was expected there.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the body" : "`" + keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[") + "`"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) must be \(name(type))"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the body is not JSON: send a JSON object (Content-Type: application/json)"
                : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "the body does not have the documented shape"
        }
    }

    private static func name(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "a whole number"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is [Any].Type: return "a list"
        default:
            let text = String(describing: type)
            if text.hasPrefix("Array") { return "a list" }
            if text.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}

/// Any JSON value, for the bodies whose fields are checked one by one (a person's columns, an answer list).
enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    var string: String? { if case .string(let value) = self { value } else { nil } }
}
