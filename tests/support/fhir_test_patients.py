"""Test patients for the real FHIR server, beyond the demo patients: charts that need paging, and the charts
of every clinical vignette (tests/vignettes/*.json, whatever files are there)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import requests

from support.builders import days_ago, icd_condition
from support.vignettes import load_vignettes

PAGED_PATIENT = "dn-test-paged"
PAGED_FILLER_CONDITIONS = 45  # with the server's page size 20: three pages, the bleeding disorder on the last


def paged_patient_resources() -> list[dict[str, Any]]:
    """45 resolved, unrelated problems, then one active hemophilia A: only a reader that follows every
    ``next`` page sees the bleeding disorder."""
    patient = {"resourceType": "Patient", "id": PAGED_PATIENT, "gender": "male", "birthDate": "1970-01-01"}
    fillers = [
        icd_condition(
            "J06.9",
            "Acute upper respiratory infection",
            id=f"{PAGED_PATIENT}-uri-{index:02d}",
            clinical_status="resolved",
            onset=days_ago(400 + index),
            abatement=days_ago(390 + index),
            patient_id=PAGED_PATIENT,
        )
        for index in range(PAGED_FILLER_CONDITIONS)
    ]
    hemophilia = icd_condition(
        "D66",
        "Hereditary factor VIII deficiency",
        id=f"{PAGED_PATIENT}-zz-hemophilia",
        patient_id=PAGED_PATIENT,
    )
    return [patient, *fillers, hemophilia]


def vignette_chart_resources(today: date) -> list[Mapping[str, Any]]:
    """Every vignette's chart (all but its draft orders, which the EHR sends in the hook context), dated for
    ``today``. Ids must be unique across vignettes: they share one server (checked by a test)."""
    return [resource for vignette in load_vignettes(today) for resource in vignette.patient.chart]


def load_test_patients(base: str, today: date) -> None:
    """PUT the test patients and the vignette charts into the server as one transaction."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in [*paged_patient_resources(), *vignette_chart_resources(today)]
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = requests.post(base, json=bundle, timeout=30)
    assert response.ok, f"loading the test patients: HTTP {response.status_code} {response.text[:1000]}"
