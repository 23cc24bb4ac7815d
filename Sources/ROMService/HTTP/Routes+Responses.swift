import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Instruments
import Intake
import Storage

extension Routes {
    /// `POST /api/v1/responses`: answers from another system, through the same store → score → flag path as the form.
    static func responses(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/api/v1/responses", .roles([.integration, .ops])) { request, context in
            let raw = Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
            guard let body = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any] else {
                throw APIError(status: .badRequest, code: "invalid_json",
                               message: "the body must be a JSON object with person, instrument and answers (and optionally id, prompt, context)")
            }
            guard let personID = body["person"] as? String, let record = try await env.store.person(id: personID), visible(record, to: context.identity) else {
                throw APIError(status: .notFound, code: "not_found", message: "no person `\(body["person"] ?? "")` you may submit for")
            }
            let instrument = body["instrument"] as? String ?? ""
            let answers: [Int?]
            var scoringContext: Scorer.Context = [:]
            do {
                guard let list = body["answers"] as? [Any] else {
                    throw ScoringError.wrongType(form: .answers, description: "`answers` must be a list, e.g. [1, 2, 0, …]; use null for unanswered")
                }
                answers = try AnswerParsing.parse(list.map(rawAnswer))
                for (key, value) in body["context"] as? [String: Any] ?? [:] {
                    guard let flag = value as? Bool else { throw ScoringError.inconsistentInput(form: .answers, message: "context `\(key)` must be true or false") }
                    scoringContext[key] = flag
                }
            } catch let error as ScoringError {
                throw APIError(status: .unprocessableContent, code: error.code, message: error.description)
            }
            let result = try await ReplyPipeline(env: env).submitResponse(
                source: "api", eventID: body["id"] as? String, personID: personID, instrument: instrument, answers: answers, context: scoringContext,
                promptID: body["prompt"] as? String, rawBody: raw, contentType: "application/json", now: env.now())
            let stored: CheckinAnswer
            switch result {
            case .failure(let error): throw APIError(status: .unprocessableContent, code: error.code, message: error.description)
            case .success(nil): throw APIError(status: .conflict, code: "duplicate", message: "a response with id `\(body["id"] ?? "")` was already received")
            case .success(let answer?): stored = answer
            }
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "response.create", personID: personID,
                                                 detail: instrument, requestID: context.id))
            var response = Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: stored.score.result)))
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }

    /// JSON values as the strict answer reader sees them: numbers, strings, booleans, null.
    static func rawAnswer(_ value: Any) -> AnswerParsing.RawAnswer {
        switch value {
        case is NSNull: return .null
        case let flag as Bool where ["Bool", "__NSCFBoolean"].contains(String(describing: type(of: value))):
            return .bool(flag)
        case let number as NSNumber:
            let double = number.doubleValue
            return double == double.rounded() && abs(double) < 1e9 ? .integer(Int(double)) : .number(double)
        case let text as String: return .text(text)
        default: return .text("\(value)")
        }
    }
}
