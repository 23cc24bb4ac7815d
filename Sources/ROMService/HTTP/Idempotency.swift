import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Storage

extension Routes {
    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// Runs `handler` on the request's body at most once per `Idempotency-Key` of the caller: a repeat with the same
    /// method, path and body gets the first answer (marked `Idempotent-Replayed: true`), another request under the
    /// key is refused with 422, and a repeat while the first still runs gets 409 with Retry-After. Answers the client
    /// should not see again — a server failure, the database gone — release the key so a retry does the work.
    /// Without the header, `handler` simply runs.
    static func idempotent(_ request: Request, _ context: ROMRequestContext, _ env: ServiceEnvironment, limit: Int = 64 * 1024,
                           _ handler: ([UInt8]) async throws -> Answer) async throws -> Response {
        let raw = Array(try await request.body.collect(upTo: limit).readableBytesView)
        guard let key = request.headers[idempotencyKeyHeader] else { return try await handler(raw).response() }
        guard (1...200).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(status: .badRequest, code: "invalid_idempotency_key",
                           message: "Idempotency-Key must be 1–200 visible ASCII characters (no spaces), e.g. a UUID")
        }
        let credential: String
        switch context.identity?.credential {
        case .token(let id)?: credential = "token:\(id)"
        case .user(let id, _)?: credential = "user:\(id)"
        case nil: return try await handler(raw).response()
        }
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: raw)
        let fingerprint = Hex.encode(hasher.finalize())
        switch try await env.store.claimIdempotencyKey(credential: credential, key: key, fingerprint: fingerprint, now: env.now()) {
        case .mismatch:
            throw APIError(status: .unprocessableContent, code: "idempotency_key_reused",
                           message: "this Idempotency-Key was used for a different request in the last 24 hours; use a new key for a new request")
        case .inProgress:
            throw APIError(status: .conflict, code: "idempotency_key_in_use",
                           message: "the first request with this Idempotency-Key is still running; retry in a moment for its answer", retryAfter: 1)
        case .done(let status, let contentType, let body):
            var response = Answer(status: status, contentType: contentType, body: Data(body.utf8)).response()
            response.headers[idempotentReplayedHeader] = "true"
            return response
        case .claimed:
            let answer: Answer
            do {
                answer = try await handler(raw)
            } catch let error as APIError where error.status.code < 500 {
                // A refusal is the answer: the same request would be refused the same way.
                let body = String(decoding: try JSONEncoder().encode(error.problem), as: UTF8.self)
                try await env.store.completeIdempotencyKey(credential: credential, key: key, status: error.status.code,
                                                           contentType: "application/problem+json", body: body)
                throw error
            } catch {
                try? await env.store.releaseIdempotencyKey(credential: credential, key: key)
                throw error
            }
            try await env.store.completeIdempotencyKey(credential: credential, key: key, status: answer.status, contentType: answer.contentType,
                                                       body: String(decoding: answer.body, as: UTF8.self))
            return answer.response()
        }
    }

    /// A JSON answer that can be kept and given again.
    struct Answer {
        var status: Int
        var contentType = "application/json"
        var body: Data

        static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Answer {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return Answer(status: status.code, body: try encoder.encode(value))
        }

        func response() -> Response {
            var headers = HTTPFields()
            headers[.contentType] = contentType
            headers[.cacheControl] = "no-store"
            return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
