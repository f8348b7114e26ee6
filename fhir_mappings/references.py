"""Resources the patient's records point to but the record does not hold.

A MedicationRequest or MedicationStatement may name its drug only through ``medicationReference`` to a
Medication (``Medication/x``): the code is on that Medication, which a patient-scoped search does not return.
A panel Observation may point to its results with ``hasMember`` (``Observation/y``). A reference the record
cannot resolve (not sent alongside, not contained) must be read from ``fhirServer``, or be reported as data
that could not be read, never taken as "no drug" or "no result".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings.fhir_json import as_object, as_text, reference_parts
from fhir_mappings.panels import unresolved_members
from fhir_mappings.records import PatientRecord

MEDICATION_REFERENCES = "referencedMedications"
RESULT_REFERENCES = "referencedResults"


def unresolved_references(record: PatientRecord) -> dict[str, list[str]]:
    """Per kind (:data:`MEDICATION_REFERENCES`, :data:`RESULT_REFERENCES`), the ``Type/id`` references the
    record cannot resolve; kinds with none are left out."""
    held = {str(m.get("id")) for m in record.medications}
    medications = [
        f"Medication/{medication_id}"
        for resource in (*record.medication_requests, *record.medication_statements)
        if (medication_id := _external_medication_id(resource)) is not None and medication_id not in held
    ]
    found = {
        MEDICATION_REFERENCES: list(dict.fromkeys(medications)),
        RESULT_REFERENCES: unresolved_members(record),
    }
    return {kind: references for kind, references in found.items() if references}


def _external_medication_id(resource: Mapping[str, Any]) -> str | None:
    """The id of the Medication a ``medicationReference`` names, unless it is contained (``#id``)."""
    reference = as_object(resource.get("medicationReference"))
    if reference is None:
        return None
    if (as_text(reference.get("reference")) or "").startswith("#"):
        return None  # contained in the resource: read with it (medications.py)
    parts = reference_parts(reference)
    return parts[1] if parts is not None and parts[0] == "Medication" else None
