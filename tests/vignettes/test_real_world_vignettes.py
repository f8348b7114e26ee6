"""Issue 11's real-world-form vignettes (tests/vignettes/real-world-forms.json) through the HTTP service in
full, partial and no-prefetch modes, against the real FHIR server (tests/fhir_server) for the modes that read
it; and a drug coded only on a Medication the EHR did not send, read from fhirServer or reported missing.

Full prefetch without a server and no prefetch at all are also run for every vignette by
tests/vignettes/test_vignettes.py and tests/fhir/test_fhir_server_integration.py; here each vignette is also
run with prefetch for only some keys (the rest read from the server), and with full prefetch plus a server.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
import requests
from build_real_world_vignettes import OUT, render
from support.cds_client import CdsClient, card_codes
from support.clock import TODAY
from support.local_fhir import LocalFhirServer
from support.services import SERVICES
from support.tokens import issuer_trust
from support.vignettes import load_vignettes

from cds_service import Settings, create_app
from cds_service.demo import DemoPatient, build_hook_request

REAL_WORLD = [v for v in load_vignettes(TODAY) if v.source_file == OUT.name]
INCOMPLETE = "patient-data-incomplete"


def _client(base: str) -> CdsClient:
    app = create_app(
        Settings(fhir_server_allowlist=(base,), trusted_issuers=(issuer_trust(),)), today=lambda: TODAY
    )
    return CdsClient(app.test_client())


def test_the_vignette_file_is_what_the_builder_writes() -> None:
    assert OUT.read_text(encoding="utf-8") == render(), (
        "run: python tests/vignettes/build_real_world_vignettes.py"
    )


def test_at_least_100_real_world_vignettes_cover_every_class() -> None:
    assert len(REAL_WORLD) >= 100
    classes = Counter(tag for v in REAL_WORLD for tag in v.tags if tag.startswith("class-"))
    assert {f"class-{n}" for n in range(1, 12)} <= set(classes), classes
    assert all(count >= 3 for count in classes.values()), classes


def _modes(body: dict[str, Any], keys: list[str], base: str) -> dict[str, dict[str, Any]]:
    full = copy.deepcopy(body)
    full["fhirServer"] = base
    partial = copy.deepcopy(full)
    for key in keys[::2]:  # every other key left for the server
        del partial["prefetch"][key]
    bare = copy.deepcopy(full)
    del bare["prefetch"]
    return {"full": full, "partial": partial, "none": bare}


@pytest.mark.parametrize("vignette", [pytest.param(v, id=v.slug) for v in REAL_WORLD])
def test_every_mode_gives_the_expected_findings(fhir_server: LocalFhirServer, vignette: Any) -> None:
    service = SERVICES["order-select"]
    cds = _client(fhir_server.base)
    body = build_hook_request(vignette.patient, service)
    for mode, request in _modes(body, sorted(service.prefetch), fhir_server.base).items():
        response = cds.call(service.id, request)
        assert response.status_code == 200, (mode, response.get_data(as_text=True))
        assert card_codes(response) == list(vignette.expected_for("order-select")), (mode, vignette.slug)


# --- class 4: a drug coded only on a Medication resource ------------------------------------------------


def _clopidogrel_patient(slug: str, medication_id: str) -> DemoPatient:
    patient_id = f"rw4-{slug}"
    resources = (
        {"resourceType": "Patient", "id": patient_id, "gender": "male", "birthDate": "1961-05-01"},
        {
            "resourceType": "Condition",
            "id": f"{patient_id}-lbp",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
        },
        {
            "resourceType": "MedicationRequest",
            "id": f"{patient_id}-mr",
            "status": "active",
            "intent": "order",
            "medicationReference": {"reference": f"Medication/{medication_id}"},  # no display
            "subject": {"reference": f"Patient/{patient_id}"},
        },
        {
            "resourceType": "ServiceRequest",
            "id": f"{patient_id}-order",
            "status": "draft",
            "intent": "order",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "reasonReference": [{"reference": f"Condition/{patient_id}-lbp"}],
            "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "37822005"}]}],
        },
    )
    return DemoPatient(slug, slug, "", patient_id, f"ServiceRequest/{patient_id}-order", (), resources)


def _put(base: str, resources: tuple[dict[str, Any], ...]) -> None:
    for resource in resources:
        if resource["resourceType"] != "ServiceRequest":
            url = f"{base}/{resource['resourceType']}/{resource['id']}"
            assert requests.put(url, json=resource, timeout=30).ok


def test_a_medication_only_on_the_server_is_read(fhir_server: LocalFhirServer) -> None:
    patient = _clopidogrel_patient("clopidogrel-on-server", "rw4-clopidogrel")
    _put(fhir_server.base, patient.resources)
    medication = {
        "resourceType": "Medication",
        "id": "rw4-clopidogrel",
        "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "309362"}]},
    }
    assert requests.put(f"{fhir_server.base}/Medication/rw4-clopidogrel", json=medication, timeout=30).ok
    service = SERVICES["order-select"]
    body = build_hook_request(patient, service)  # prefetch from the chart: no Medication in it
    body["fhirServer"] = fhir_server.base
    response = _client(fhir_server.base).call(service.id, body)
    assert response.status_code == 200
    assert "antithrombotic-therapy" in card_codes(response)
    assert INCOMPLETE not in card_codes(response)


def test_a_medication_that_cannot_be_read_is_reported_never_no_drug(fhir_server: LocalFhirServer) -> None:
    patient = _clopidogrel_patient("medication-missing", "rw4-not-on-the-server")
    _put(fhir_server.base, patient.resources)
    service = SERVICES["order-select"]
    with_server = build_hook_request(patient, service)
    with_server["fhirServer"] = fhir_server.base
    without_server = build_hook_request(patient, service)
    cds = _client(fhir_server.base)
    for body in (with_server, without_server):
        response = cds.call(service.id, body)
        assert response.status_code == 200
        cards = response.get_json()["cards"]
        [incomplete] = [c for c in cards if c["source"]["topic"]["code"] == INCOMPLETE]
        assert "referenced medications" in incomplete["summary"] + incomplete.get("detail", "")
