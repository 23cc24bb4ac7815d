public import Foundation
import Yams

/// The API contract: `Resources/openapi.yaml` (OpenAPI 3.1), the one description of every `/api/v1`, provider and
/// health route. Served as JSON at `/api/v1/openapi.json`; `OpenAPIContractTests` checks it against the route table
/// (every route documented with the roles it takes, nothing documented that is not served), and scripts/test runs
/// schemathesis against a live service with it.
public enum APIDocument {
    /// The document as JSON bytes, made once from the YAML.
    public static let json: Data = {
        do {
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
                fatalError("openapi.yaml is missing from the ROMService resources")
            }
            let text = try String(contentsOf: url, encoding: .utf8)
            guard let node = try parseLock.withLock({ try Yams.compose(yaml: text) }), let object = json(node) as? [String: Any] else {
                fatalError("openapi.yaml is not a YAML mapping")
            }
            return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            fatalError("openapi.yaml does not parse: \(error)")
        }
    }()

    /// The document as JSON values (dictionaries, arrays, strings, numbers, booleans, NSNull).
    public static var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] ?? [:]
    }

    /// One documented operation.
    public struct Operation: Sendable, Hashable {
        public var method: String
        /// The path as the router writes it (`/api/v1/people/:id`).
        public var path: String
        /// `x-rom-roles`, or nil for an operation without bearer credentials (open or provider-signed).
        public var roles: Set<String>?
        public var statuses: Set<String>
    }

    /// Every operation in the document, with `{name}` path parameters written `:name`.
    public static var operations: [Operation] {
        let paths = object["paths"] as? [String: Any] ?? [:]
        let defaultSecurity = object["security"] as? [Any] ?? []
        var result: [Operation] = []
        for (path, value) in paths {
            guard let item = value as? [String: Any] else { continue }
            let routerPath = path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
            for method in ["get", "put", "post", "delete", "patch", "head"] {
                guard let operation = item[method] as? [String: Any] else { continue }
                let security = operation["security"] as? [Any] ?? defaultSecurity
                let usesBearer = security.contains { ($0 as? [String: Any])?["bearer"] != nil }
                let roles = usesBearer ? Set((operation["x-rom-roles"] as? [Any] ?? []).compactMap { $0 as? String }) : nil
                let statuses = Set((operation["responses"] as? [String: Any] ?? [:]).keys)
                result.append(Operation(method: method.uppercased(), path: routerPath, roles: roles, statuses: statuses))
            }
        }
        return result.sorted { ($0.path, $0.method) < ($1.path, $1.method) }
    }

    /// Yams resolves tags with shared regular expressions; parsing is once per process, but tests may race.
    private static let parseLock = NSLock()

    /// A YAML node as a JSON value: plain scalars by their resolved tag (quoted ones stay strings), keys as strings.
    static func json(_ node: Node) -> Any {
        switch node {
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = json(value) }
            return object
        case .sequence(let sequence):
            return sequence.map(json)
        case .scalar(let scalar):
            switch node.tag.rawValue {
            case Tag.Name.int.rawValue: return node.int ?? scalar.string
            case Tag.Name.float.rawValue: return node.float ?? scalar.string
            case Tag.Name.bool.rawValue: return node.bool ?? scalar.string
            case Tag.Name.null.rawValue: return NSNull()
            default: return scalar.string
            }
        case .alias:
            return NSNull()
        }
    }
}
