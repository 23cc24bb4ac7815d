import Foundation
import HTTPTypes
import Hummingbird
import Instruments
import Intake
import Storage

extension Routes {
    /// `POST /api/v1/fhir/QuestionnaireResponse`: an EHR's completed QuestionnaireResponse for one of our instruments,
    /// read by `QuestionnaireResponseReader` and then the same path as `POST /responses` (raw kept, scored, flagged).
    /// Refusals are OperationOutcomes naming the element at fault.
    static func fhir(_ table: inout RouteTable, _ env: ServiceEnvironment) {
        table.add(.post, "/api/v1/fhir/QuestionnaireResponse", .roles([.integration, .ops])) { request, context in
            try await idempotent(request, context, env, limit: 256 * 1024) { raw in
                do {
                    let reading: QuestionnaireResponseReader.Reading
                    switch QuestionnaireResponseReader.read(Data(raw), catalog: env.configuration.instruments) {
                    case .failure(let issue):
                        return try operationOutcome(status: issue.code == "structure" ? .badRequest : .unprocessableContent, issue: issue)
                    case .success(let value): reading = value
                    }
                    let stored = try await submitAnswers(
                        AnswerSubmission(personID: reading.personID, instrument: reading.instrument, answers: reading.answers, context: [:],
                                         eventID: reading.resourceID.map { "QuestionnaireResponse/\($0)" }, promptID: nil, rawBody: raw,
                                         contentType: request.headers[.contentType] ?? "application/fhir+json"), context, env)
                    return scoreResponse(stored)
                } catch let error as APIError where error.status.code < 500 {
                    let type = error.status == .notFound ? "not-found" : error.status == .conflict ? "duplicate" : "invalid"
                    let expression = error.status == .notFound ? "QuestionnaireResponse.subject"
                        : error.item.map { "QuestionnaireResponse.item.where(linkId = '\($0)')" }
                    return try operationOutcome(status: error.status, issue: .init(code: type, diagnostics: error.message, expression: expression))
                }
            }
        }
    }

    /// An OperationOutcome with one error issue.
    static func operationOutcome(status: HTTPResponse.Status, issue: QuestionnaireResponseReader.Issue) throws -> Answer {
        var entry: [String: Any] = ["severity": "error", "code": issue.code, "diagnostics": issue.diagnostics]
        if let expression = issue.expression { entry["expression"] = [expression] }
        let outcome: [String: Any] = ["resourceType": "OperationOutcome", "issue": [entry]]
        return Answer(status: status.code, contentType: "application/fhir+json",
                      body: try JSONSerialization.data(withJSONObject: outcome, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}
