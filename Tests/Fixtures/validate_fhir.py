#!/usr/bin/env python3
"""Validates a FHIR R4 JSON Bundle with the fhir.resources library (pydantic models of the FHIR spec).

fhir.resources ships R4B models under fhir.resources.R4B (R4B is R4 with errata; QuestionnaireResponse, Observation
and Bundle are unchanged between them). Exits non-zero with the library's error when the bundle is not valid."""
import json, sys

try:
    from fhir.resources.R4B.bundle import Bundle
except ImportError:  # older releases: R4 models at the top level
    from fhir.resources.bundle import Bundle

with open(sys.argv[1]) as f:
    data = json.load(f)
if hasattr(Bundle, "model_validate"):
    bundle = Bundle.model_validate(data)
else:
    bundle = Bundle.parse_obj(data)
kinds = sorted({entry.resource.__resource_type__ if hasattr(entry.resource, "__resource_type__") else entry.resource.resource_type for entry in bundle.entry})
print(f"valid Bundle with {len(bundle.entry)} entries: {', '.join(kinds)}")
