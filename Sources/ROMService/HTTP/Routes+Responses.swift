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
            try await idempotent(request, context, env) { raw in
                let body = try RequestBody.decode(ResponseInput.self, from: Data(raw))
                let answers: [Int?]
                var scoringContext: Scorer.Context = [:]
                do {
                    guard case .array(let list)? = body.answers else {
                        throw ScoringError.wrongType(form: .answers, description: "`answers` must be a list, e.g. [1, 2, 0, …]; use null for unanswered")
                    }
                    answers = try AnswerParsing.parse(list.map(rawAnswer))
                    for (key, value) in body.context ?? [:] {
                        guard case .bool(let flag) = value else { throw ScoringError.inconsistentInput(form: .answers, message: "context `\(key)` must be true or false") }
                        scoringContext[key] = flag
                    }
                } catch let error as ScoringError {
                    throw APIError(status: .unprocessableContent, code: error.code, message: error.description, item: error.item)
                }
                let stored = try await submitAnswers(
                    AnswerSubmission(personID: body.person, instrument: body.instrument, answers: answers, context: scoringContext,
                                     eventID: body.id, promptID: body.prompt, rawBody: raw, contentType: "application/json"), context, env)
                return scoreResponse(stored)
            }
        }
    }

    /// `POST /api/v1/responses`' body.
    struct ResponseInput: Decodable {
        var person: String
        var instrument: String
        var answers: JSONValue?
        var context: [String: JSONValue]?
        var id: String?
        var prompt: String?
    }

    /// Answers read from another system's message (JSON or FHIR), before they are stored.
    struct AnswerSubmission {
        var personID: String
        var instrument: String
        var answers: [Int?]
        var context: Scorer.Context
        var eventID: String?
        var promptID: String?
        var rawBody: [UInt8]
        var contentType: String
    }

    /// The one path for answers from other systems: the caller may submit for the person (404 otherwise), the raw
    /// body is kept with the scored answer in one transaction, flags follow; 422 names what to fix, 409 a repeat of
    /// the sender's id.
    static func submitAnswers(_ submission: AnswerSubmission, _ context: ROMRequestContext, _ env: ServiceEnvironment) async throws -> CheckinAnswer {
        guard let record = try await env.store.person(id: submission.personID), visible(record, to: context.identity) else {
            throw APIError(status: .notFound, code: "not_found", message: "no person `\(submission.personID)` you may submit for")
        }
        let result = try await ReplyPipeline(env: env).submitResponse(
            source: "api", eventID: submission.eventID, personID: submission.personID, instrument: submission.instrument, answers: submission.answers,
            context: submission.context, promptID: submission.promptID, rawBody: submission.rawBody, contentType: submission.contentType, now: env.now())
        switch result {
        case .failure(let error):
            throw APIError(status: .unprocessableContent, code: error.code, message: error.description, item: error.item)
        case .success(nil):
            throw APIError(status: .conflict, code: "duplicate", message: "a response with id `\(submission.eventID ?? "")` was already received")
        case .success(let answer?):
            try await env.store.audit(AuditEvent(at: env.now(), actor: context.actor, action: "response.create", personID: submission.personID,
                                                 detail: submission.instrument, requestID: context.id))
            return answer
        }
    }

    /// 201 with the stored score (the same JSON the review pack reads).
    static func scoreResponse(_ answer: CheckinAnswer) -> Answer {
        Answer(status: 201, body: Data(answer.score.result.utf8))
    }

    /// JSON values as the strict answer reader sees them: numbers, strings, booleans, null.
    static func rawAnswer(_ value: JSONValue) -> AnswerParsing.RawAnswer {
        switch value {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let double): return double == double.rounded() && abs(double) < 1e9 ? .integer(Int(double)) : .number(double)
        case .string(let text): return .text(text)
        case .array, .object: return .text("a list or object")
        }
    }
}
