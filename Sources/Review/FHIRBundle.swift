import Foundation
import Instruments

/// A review pack's responses as FHIR R4: a `collection` Bundle with a QuestionnaireResponse per response and an
/// Observation per total, LOINC-coded where a code exists (PHQ-9 44249-1 / 44261-6, GAD-7 69737-5 / 70274-6).
struct FHIRBundle {
    let pack: ReviewPack
    let instruments: InstrumentCatalog
    let base: String

    /// FHIR ids allow letters, digits, `-` and `.` only.
    static func fhirID(_ text: String) -> String {
        String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "-" }.prefix(64))
    }

    func json() -> String {
        let stamp = ISO8601DateFormatter()
        let subject: [String: Any] = ["identifier": ["system": "\(base)/people", "value": pack.personID]]
        var entries: [[String: Any]] = []
        for history in pack.measures {
            let code = LOINC.codes[history.instrument]
            for point in history.points {
                let qrID = "qr-" + Self.fhirID(point.responseID)
                let answers = point.answers
                var questionnaireResponse: [String: Any] = [
                    "resourceType": "QuestionnaireResponse", "id": qrID, "status": "completed",
                    "questionnaire": "\(base)/Questionnaire/\(history.instrument)|\(history.version)",
                    "subject": subject, "authored": stamp.string(from: point.at),
                    "item": answers.enumerated().compactMap { index, value -> [String: Any]? in
                        guard let value else { return nil }
                        return ["linkId": String(index + 1), "answer": [["valueInteger": value]]]
                    },
                ]
                if let code {
                    questionnaireResponse["meta"] = ["tag": [["system": "http://loinc.org", "code": code.panel, "display": code.panelName]]]
                }
                entries.append(["fullUrl": "\(base)/fhir/QuestionnaireResponse/\(qrID)", "resource": questionnaireResponse])
                guard let total = point.total, point.valid else { continue }
                var coding: [[String: Any]] = [["system": "\(base)/fhir/CodeSystem/measures", "code": "\(history.instrument)-total"]]
                if let code { coding.insert(["system": "http://loinc.org", "code": code.total, "display": code.totalName], at: 0) }
                var observation: [String: Any] = [
                    "resourceType": "Observation", "id": "obs-" + Self.fhirID(point.responseID), "status": "final",
                    "category": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey", "display": "Survey"]]]],
                    "code": ["coding": coding, "text": "\(instruments.definition(history.instrument)?.title ?? history.instrument) total score"],
                    "subject": subject, "effectiveDateTime": stamp.string(from: point.at),
                    "valueQuantity": ["value": total, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"],
                    "derivedFrom": [["reference": "QuestionnaireResponse/\(qrID)"]],
                ]
                if let band = point.bandLabel { observation["interpretation"] = [["text": band]] }
                entries.append(["fullUrl": "\(base)/fhir/Observation/obs-\(Self.fhirID(point.responseID))", "resource": observation])
            }
        }
        // Goals: one QuestionnaireResponse per goals response, each item carrying the goal in the person's words.
        var goalResponses: [String: (at: Date, items: [(number: Int, text: String?, value: Int)])] = [:]
        for goal in pack.goals {
            for rating in goal.ratings {
                goalResponses[rating.responseID, default: (rating.at, [])].items.append((goal.number, goal.text, rating.value))
            }
        }
        for (responseID, response) in goalResponses.sorted(by: { ($0.value.at, $0.key) < ($1.value.at, $1.key) }) {
            let qrID = "qr-" + Self.fhirID(responseID)
            let resource: [String: Any] = [
                "resourceType": "QuestionnaireResponse", "id": qrID, "status": "completed",
                "questionnaire": "\(base)/Questionnaire/goals", "subject": subject, "authored": stamp.string(from: response.at),
                "item": response.items.sorted { $0.number < $1.number }.map { item -> [String: Any] in
                    var entry: [String: Any] = ["linkId": String(item.number), "answer": [["valueInteger": item.value]]]
                    if let text = item.text { entry["text"] = text }
                    return entry
                },
            ]
            entries.append(["fullUrl": "\(base)/fhir/QuestionnaireResponse/\(qrID)", "resource": resource])
        }
        let bundle: [String: Any] = ["resourceType": "Bundle", "id": Self.fhirID("review-\(pack.personID)"), "type": "collection",
                                     "timestamp": stamp.string(from: pack.generatedAt), "entry": entries]
        let data = (try? JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
