#!/usr/bin/env python3
"""Builds FHIR R4 QuestionnaireResponse resources with the fhir.resources library (pydantic models of the FHIR spec),
as an EHR would send them, and prints them as a JSON object of name → resource. The models refuse anything that is
not valid FHIR, so the service is tested with resources a real FHIR implementation accepts.

Usage: questionnaire_response.py PERSON_ID"""
import json, sys

try:
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
except ImportError:  # older releases: R4 models at the top level
    from fhir.resources.questionnaireresponse import QuestionnaireResponse

person = sys.argv[1]
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
# LOINC answer list LL358-3 (PHQ): Not at all / Several days / More than half the days / Nearly every day.
PHQ_ANSWERS = [("LA6568-5", "Not at all"), ("LA6569-3", "Several days"), ("LA6570-1", "More than half the days"), ("LA6571-9", "Nearly every day")]


def build(data):
    model = QuestionnaireResponse.model_validate(data) if hasattr(QuestionnaireResponse, "model_validate") else QuestionnaireResponse.parse_obj(data)
    return json.loads(model.json() if not hasattr(model, "model_dump_json") else model.model_dump_json(exclude_none=True, by_alias=True))


def integer_items(values):
    return [{"linkId": str(i + 1), "answer": [{"valueInteger": v}]} for i, v in enumerate(values) if v is not None]


def coded_items(values):
    items = []
    for i, v in enumerate(values):
        code, display = PHQ_ANSWERS[v]
        items.append({"linkId": str(i + 1), "answer": [{"valueCoding": {
            "system": "http://loinc.org", "code": code, "display": display,
            "extension": [{"url": ORDINAL, "valueDecimal": v}]}}]})
    return items


def response(rid, questionnaire, items, status="completed", subject=None):
    return build({"resourceType": "QuestionnaireResponse", "id": rid, "status": status, "questionnaire": questionnaire,
                  "subject": subject or {"reference": f"Patient/{person}"}, "authored": "2026-11-20T10:00:00Z", "item": items})


out = {
    # PHQ-9 by LOINC panel, integer answers 2,1,3,0,1,2,0,1,0.
    "phq9_loinc_integers": response("qr-1", "http://loinc.org/q/44249-1", integer_items([2, 1, 3, 0, 1, 2, 0, 1, 0])),
    # PHQ-9 by our canonical URL, LOINC-coded answers with ordinal values 3,3,3,3,3,3,2,0,1 (item 9 positive).
    "phq9_canonical_coded": response("qr-2", "http://127.0.0.1:8080/Questionnaire/phq9|1.0.0", coded_items([3, 3, 3, 3, 3, 3, 2, 0, 1]),
                                     subject={"identifier": {"system": "http://127.0.0.1:8080/people", "value": person}}),
    # GAD-7 by bare LOINC panel code, grouped items, 1,1,1,1,1,1,1.
    "gad7_grouped": response("qr-3", "69737-5", [{"linkId": "gad7", "item": integer_items([1, 1, 1, 1, 1, 1, 1])}]),
    # Not scorable as they stand.
    "in_progress": response("qr-4", "http://loinc.org/q/44249-1", integer_items([0] * 9), status="in-progress"),
    "unknown_questionnaire": response("qr-5", "http://loinc.org/q/89204-2", integer_items([0] * 9)),
    "loinc_item_codes": response("qr-6", "http://loinc.org/q/44249-1", [{"linkId": "44250-9", "answer": [{"valueInteger": 1}]}]),
    "out_of_range": response("qr-7", "http://loinc.org/q/44249-1", integer_items([0, 0, 0, 0, 4, 0, 0, 0, 0])),
    "unknown_person": response("qr-8", "http://loinc.org/q/44249-1", integer_items([0] * 9), subject={"reference": "Patient/nobody"}),
    "text_answer": response("qr-9", "http://loinc.org/q/44249-1", [{"linkId": "1", "answer": [{"valueString": "sometimes"}]}]),
}
print(json.dumps(out))
