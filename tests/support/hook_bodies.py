"""Valid hook-call bodies that tests change one part of (bad input, limits, fuzzing, slow clients) and the
benchmark scripts send."""

from __future__ import annotations

from typing import Any

from support.builders import no_data_prefetch

VALID: dict[str, Any] = {
    "hook": "order-select",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/123",
        "patientId": "pat-1",
        "selections": ["ServiceRequest/dn-1"],
        "draftOrders": {
            "resourceType": "Bundle",
            "entry": [
                {
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "id": "dn-1",
                        "status": "draft",
                        "intent": "order",
                        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}]},
                        "subject": {"reference": "Patient/pat-1"},
                    }
                }
            ],
        },
    },
    "prefetch": no_data_prefetch(),
}
"""A minimal valid order-select call: one dry-needling order, no patient data in the prefetch."""


def hand_written_order_select() -> dict[str, Any]:
    """An order-select call with a lumbar order for low back pain, a haemophilia problem and a pregnancy with
    its gestational age: a body in which every rule has something to read."""
    order = {
        "resourceType": "ServiceRequest",
        "id": "dn-1",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}]},
        "subject": {"reference": "Patient/pat-1"},
        "bodySite": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "37822005", "display": "Lumbar"}]}
        ],
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}]}],
        "occurrenceDateTime": "2026-11-26",
    }
    condition = {
        "resourceType": "Condition",
        "id": "c-1",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D66"}]},
        "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "37822005"}]}],
        "subject": {"reference": "Patient/pat-1"},
        "onsetDateTime": "2020-03-01",
        "recordedDate": "2020-03-01",
    }
    observation = {
        "resourceType": "Observation",
        "id": "o-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11778-8"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-11-01",
        "valueDateTime": "2027-06-01",
    }
    gestational_age = {
        "resourceType": "Observation",
        "id": "o-2",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "18185-9"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 9, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"},
    }
    return {
        "hook": "order-select",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/123",
            "patientId": "pat-1",
            "selections": ["ServiceRequest/dn-1"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
        },
        "prefetch": no_data_prefetch(
            conditions={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]},
            pregnancyObservations={
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": observation}, {"resource": gestational_age}],
            },
        ),
    }
