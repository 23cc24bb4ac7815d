/// LOINC codes of the shipped instruments that have them: the questionnaire panel and the total score. Used for the
/// review packs' FHIR and to recognise an EHR's QuestionnaireResponse for one of our instruments.
public enum LOINC {
    public struct Codes: Sendable, Equatable {
        public var panel: String
        public var panelName: String
        public var total: String
        public var totalName: String
    }

    /// By instrument id.
    public static let codes: [String: Codes] = [
        "phq9": Codes(panel: "44249-1", panelName: "PHQ-9 quick depression assessment panel",
                      total: "44261-6", totalName: "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
        "gad7": Codes(panel: "69737-5", panelName: "Generalized anxiety disorder 7 item (GAD-7)",
                      total: "70274-6", totalName: "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
    ]

    /// The instrument whose panel this is.
    public static func instrument(panel: String) -> String? {
        codes.first { $0.value.panel == panel }?.key
    }
}
