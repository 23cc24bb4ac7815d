public import Foundation
public import Instruments

/// Reads an EHR's FHIR R4 QuestionnaireResponse for one of our instruments into the answers the scorer takes.
///
/// It only reads; scoring, range checks and storing are the reply pipeline's, as for every other channel. Anything
/// it cannot map with certainty is refused with an issue naming the element (a FHIRPath), never guessed: an answer
/// placed on the wrong item would be a wrong score.
public enum QuestionnaireResponseReader {
    /// What the resource says.
    public struct Reading: Sendable, Equatable {
        public var personID: String
        public var instrument: String
        /// One per item, in the instrument's order; nil where the resource has no answer.
        public var answers: [Int?]
        /// The resource's own id, for recognising a resend.
        public var resourceID: String?
    }

    /// Why the resource was not taken, as a FHIR OperationOutcome issue.
    public struct Issue: Error, Sendable, Equatable {
        /// FHIR issue-type code: `structure`, `required`, `value`, `not-supported`, `business-rule`.
        public var code: String
        public var diagnostics: String
        /// FHIRPath of the element at fault.
        public var expression: String?

        public init(code: String, diagnostics: String, expression: String?) {
            self.code = code
            self.diagnostics = diagnostics
            self.expression = expression
        }
    }

    public static let ordinalValueURLs: Set<String> = [
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
    ]

    public static func read(_ data: Data, catalog: InstrumentCatalog) -> Result<Reading, Issue> {
        do {
            return .success(try reading(data, catalog: catalog))
        } catch let issue as Issue {
            return .failure(issue)
        } catch {
            return .failure(Issue(code: "structure", diagnostics: "the body is not JSON", expression: nil))
        }
    }

    private static func reading(_ data: Data, catalog: InstrumentCatalog) throws -> Reading {
        guard let resource = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Issue(code: "structure", diagnostics: "the body must be a FHIR JSON resource (an object)", expression: nil)
        }
        guard resource["resourceType"] as? String == "QuestionnaireResponse" else {
            throw Issue(code: "structure", diagnostics: "resourceType must be QuestionnaireResponse", expression: "resourceType")
        }
        let path = "QuestionnaireResponse"
        let status = resource["status"] as? String
        guard status == "completed" || status == "amended" else {
            throw Issue(code: "business-rule", diagnostics: "only completed or amended responses are scored; this one is \(status.map { "`\($0)`" } ?? "without a status")",
                        expression: "\(path).status")
        }
        guard let questionnaire = resource["questionnaire"] as? String, !questionnaire.isEmpty else {
            throw Issue(code: "required", diagnostics: "questionnaire is required: …/Questionnaire/<instrument id> or a LOINC panel such as 44249-1",
                        expression: "\(path).questionnaire")
        }
        guard let instrument = instrument(questionnaire, catalog: catalog), let definition = catalog.definition(instrument) else {
            let panels = LOINC.codes.sorted { $0.key < $1.key }.map { "\($0.value.panel) (\($0.key))" }.joined(separator: ", ")
            throw Issue(code: "not-supported",
                        diagnostics: "questionnaire `\(questionnaire)` is not one of ours; use …/Questionnaire/<id> with an id of \(catalog.ids.joined(separator: ", ")), or a LOINC panel: \(panels)",
                        expression: "\(path).questionnaire")
        }
        let subject = resource["subject"] as? [String: Any]
        let reference = (subject?["reference"] as? String).flatMap { $0.hasPrefix("Patient/") ? String($0.dropFirst("Patient/".count)) : nil }
        let identifier = (subject?["identifier"] as? [String: Any])?["value"] as? String
        guard let personID = reference ?? identifier, !personID.isEmpty else {
            throw Issue(code: "required", diagnostics: "subject must name the person: {\"reference\": \"Patient/<id>\"} or {\"identifier\": {\"value\": \"<id>\"}}",
                        expression: "\(path).subject")
        }
        guard let items = resource["item"] as? [Any] else {
            throw Issue(code: "required", diagnostics: "item is required: one entry per answered item, with linkId and answer", expression: "\(path).item")
        }
        var answers = [Int?](repeating: nil, count: definition.items.count)
        var seen: Set<Int> = []
        for leaf in try leaves(items, path: "\(path).item") {
            let itemPath = leaf.path
            guard let linkId = leaf.item["linkId"] as? String else {
                throw Issue(code: "required", diagnostics: "every item needs a linkId", expression: "\(itemPath).linkId")
            }
            guard let position = position(linkId, in: definition) else {
                throw Issue(code: "value", diagnostics: "linkId `\(linkId)` is not an item of \(definition.title): use the item's number 1–\(definition.items.count) or its id (\(definition.items.map(\.id).joined(separator: ", ")))",
                            expression: "\(itemPath).linkId")
            }
            guard seen.insert(position).inserted else {
                throw Issue(code: "business-rule", diagnostics: "item \(position + 1) (linkId `\(linkId)`) is answered twice", expression: "\(itemPath).linkId")
            }
            let list = leaf.item["answer"] as? [Any] ?? []
            guard list.count <= 1 else {
                throw Issue(code: "business-rule", diagnostics: "item \(position + 1) has \(list.count) answers; each item takes one", expression: "\(itemPath).answer")
            }
            guard let answer = list.first else { continue }
            answers[position] = try value(answer, path: "\(itemPath).answer[0]", item: position + 1)
        }
        return Reading(personID: personID, instrument: instrument, answers: answers, resourceID: resource["id"] as? String)
    }

    /// `…/Questionnaire/phq9|1.0.0`, `http://loinc.org/q/44249-1`, `44249-1`.
    static func instrument(_ questionnaire: String, catalog: InstrumentCatalog) -> String? {
        let canonical = questionnaire.split(separator: "|", maxSplits: 1).first.map(String.init) ?? questionnaire
        if let range = canonical.range(of: "/Questionnaire/") {
            let id = String(canonical[range.upperBound...])
            return catalog.definition(id) != nil ? id : nil
        }
        let code = canonical.hasPrefix("http://loinc.org/q/") ? String(canonical.dropFirst("http://loinc.org/q/".count)) : canonical
        return LOINC.instrument(panel: code)
    }

    /// Items with answers, flattening groups (`item.item`), each with its FHIRPath.
    private static func leaves(_ items: [Any], path: String) throws -> [(item: [String: Any], path: String)] {
        var result: [(item: [String: Any], path: String)] = []
        for (index, value) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let item = value as? [String: Any] else {
                throw Issue(code: "structure", diagnostics: "each item must be an object with linkId and answer", expression: itemPath)
            }
            if item["answer"] == nil, let children = item["item"] as? [Any] {
                result += try leaves(children, path: "\(itemPath).item")
            } else {
                result.append((item, itemPath))
            }
        }
        return result
    }

    private static func position(_ linkId: String, in definition: InstrumentDefinition) -> Int? {
        if let index = definition.items.firstIndex(where: { $0.id == linkId }) { return index }
        if let number = Int(linkId), (1...definition.items.count).contains(number) { return number - 1 }
        return nil
    }

    /// A whole-number answer: valueInteger, or a valueCoding with an ordinal value extension or a numeric code.
    private static func value(_ answer: Any, path: String, item: Int) throws -> Int {
        guard let answer = answer as? [String: Any] else {
            throw Issue(code: "structure", diagnostics: "item \(item): an answer must be an object such as {\"valueInteger\": 2}", expression: path)
        }
        if let number = answer["valueInteger"] {
            guard let value = wholeNumber(number) else {
                throw Issue(code: "value", diagnostics: "item \(item): valueInteger must be a whole number", expression: "\(path).valueInteger")
            }
            return value
        }
        if let coding = answer["valueCoding"] as? [String: Any] {
            for case let ext as [String: Any] in coding["extension"] as? [Any] ?? [] {
                guard let url = ext["url"] as? String, ordinalValueURLs.contains(url) else { continue }
                guard let value = ext["valueDecimal"].flatMap(wholeNumber) ?? ext["valueInteger"].flatMap(wholeNumber) else {
                    throw Issue(code: "value", diagnostics: "item \(item): the ordinal value must be a whole number", expression: "\(path).valueCoding.extension")
                }
                return value
            }
            if let code = coding["code"] as? String, let value = Int(code) { return value }
            throw Issue(code: "value",
                        diagnostics: "item \(item): the coding has no ordinalValue extension and its code `\(coding["code"] as? String ?? "")` is not a number, so its score is unknown",
                        expression: "\(path).valueCoding")
        }
        let kinds = answer.keys.filter { $0.hasPrefix("value") }.sorted().joined(separator: ", ")
        throw Issue(code: "value", diagnostics: "item \(item): answer with valueInteger or valueCoding\(kinds.isEmpty ? "" : " (not \(kinds))")", expression: path)
    }

    private static func wholeNumber(_ value: Any) -> Int? {
        guard !["Bool", "__NSCFBoolean"].contains(String(describing: type(of: value))), let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        return double == double.rounded() && abs(double) < 1e9 ? Int(double) : nil
    }
}
