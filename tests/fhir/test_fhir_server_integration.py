"""The service against a real FHIR R4 server (Medplum's router in memory, tests/fhir_server) on 127.0.0.1.

(a) With no prefetch at all the service reads the server itself and answers exactly as with full prefetch, for
every demo patient, every clinical vignette (tests/vignettes/*.json) and hook, and for a test patient whose
chart needs paging.
(b) Partial prefetch, paging, an expired token, a slow server, a server that is down and a server off the
allowlist each behave as specified.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
import requests
from support.cds_client import CdsClient, card_codes
from support.clock import TODAY
from support.fhir_test_patients import PAGED_PATIENT, paged_patient_resources, vignette_chart_resources
from support.local_fhir import LocalFhirServer, unused_loopback_url
from support.services import SERVICES
from support.tokens import issuer_trust
from support.vignettes import Vignette, load_vignettes

from cds_service import Settings, create_app
from cds_service.catalog import ServiceDefinition
from cds_service.demo import DemoPatient, build_hook_request, load_demo_patients

HOOKS = list(SERVICES)
DEMO = load_demo_patients(TODAY)
VIGNETTES = load_vignettes(TODAY)  # loaded into the session's server by the fhir_server fixture
INCOMPLETE = "patient-data-incomplete"


def client(base: str, **settings: Any) -> CdsClient:
    """A conformance-checking client of a service allowed to read ``base``."""
    app = create_app(
        Settings(fhir_server_allowlist=(base,), trusted_issuers=(issuer_trust(),), **settings),
        today=lambda: TODAY,
    )
    return CdsClient(app.test_client())


def call_without(
    cds: CdsClient, patient: DemoPatient, service: ServiceDefinition, base: str, **body_fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(full-prefetch response, no-prefetch response) bodies, same hookInstance."""
    full = build_hook_request(patient, service)
    bare = copy.deepcopy(full)
    del bare["prefetch"]
    bare.update(fhirServer=base, **body_fields)
    first = cds.call(service.id, full)
    second = cds.call(service.id, bare)
    assert first.status_code == second.status_code == 200, second.get_data(as_text=True)
    return first.get_json(), second.get_json()


def codes(body: dict[str, Any]) -> list[str]:
    return sorted(card["source"]["topic"]["code"] for card in body["cards"])


def incomplete_card(body: dict[str, Any]) -> dict[str, Any]:
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == INCOMPLETE]
    return card


def paged_patient() -> DemoPatient:
    """The paged test patient as a DemoPatient, with a lumbar dry-needling order."""
    order = {
        "resourceType": "ServiceRequest",
        "id": f"{PAGED_PATIENT}-order",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}]},
        "subject": {"reference": f"Patient/{PAGED_PATIENT}"},
        "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "37822005"}]}],
    }
    return DemoPatient(
        slug="paged",
        title="paged",
        description="",
        patient_id=PAGED_PATIENT,
        order_reference=f"ServiceRequest/{order['id']}",
        expected_findings=(),
        resources=(*paged_patient_resources(), order),
    )


# --- (a) no prefetch == full prefetch ---------------------------------------------------------------------


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("patient", [pytest.param(p, id=p.slug) for p in DEMO])
def test_no_prefetch_answers_as_full_prefetch(
    fhir_server: LocalFhirServer, patient: DemoPatient, hook: str
) -> None:
    cds = client(fhir_server.base)

    full, fetched = call_without(cds, patient, SERVICES[hook], fhir_server.base)

    assert INCOMPLETE not in codes(fetched)
    assert codes(fetched) == codes(full)
    assert fetched == full  # the same cards, word for word (same hookInstance -> same uuids)
    if hook == "order-select":
        assert codes(fetched) == sorted(patient.expected_findings)


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("vignette", [pytest.param(v, id=v.slug) for v in VIGNETTES])
def test_no_prefetch_answers_as_full_prefetch_for_every_vignette(
    fhir_server: LocalFhirServer, vignette: Vignette, hook: str
) -> None:
    cds = client(fhir_server.base)

    full, fetched = call_without(cds, vignette.patient, SERVICES[hook], fhir_server.base)

    assert INCOMPLETE not in codes(fetched)
    assert codes(fetched) == codes(full)
    assert fetched == full  # the same cards, word for word
    if hook != "patient-view":
        assert codes(fetched) == list(vignette.expected_for(hook)), vignette.patient.description


def test_every_resource_on_the_test_server_has_its_own_id() -> None:
    """Demo patients, test patients and vignettes share one server: a reused id would overwrite a chart."""
    charts = [
        *(resource for patient in DEMO for resource in patient.chart),
        *paged_patient_resources(),
        *vignette_chart_resources(TODAY),
    ]
    counts = Counter(f"{resource['resourceType']}/{resource['id']}" for resource in charts)

    assert sorted(key for key, count in counts.items() if count > 1) == []


def test_every_page_is_read(fhir_server: LocalFhirServer) -> None:
    patient = paged_patient()
    service = SERVICES["order-select"]
    cds = client(fhir_server.base)

    full, fetched = call_without(cds, patient, service, fhir_server.base)

    assert "bleeding-disorder" in codes(full)  # on the third page of the server's answer
    assert codes(fetched) == codes(full)
    assert fetched == full


def test_more_pages_than_the_cap_is_incomplete_never_empty(fhir_server: LocalFhirServer) -> None:
    cds = client(fhir_server.base, fhir_max_pages=2)

    _, fetched = call_without(cds, paged_patient(), SERVICES["order-select"], fhir_server.base)

    assert "bleeding-disorder" not in codes(fetched)
    card = incomplete_card(fetched)
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Could not read conditions:")
    assert "bleeding disorder" in card["summary"]
    assert "more than 2 pages" in card["detail"]


# --- (b) partial prefetch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("patient", [pytest.param(p, id=p.slug) for p in DEMO])
@pytest.mark.parametrize("gap", ["absent", "operation-outcome", "paged-by-ehr"])
def test_partial_prefetch_is_completed_from_the_server(
    fhir_server: LocalFhirServer, patient: DemoPatient, gap: str
) -> None:
    service = SERVICES["order-sign"]
    cds = client(fhir_server.base)
    full = build_hook_request(patient, service)
    partial = copy.deepcopy(full)
    partial["fhirServer"] = fhir_server.base
    if gap == "absent":
        del partial["prefetch"]["pregnancyObservations"]
    elif gap == "operation-outcome":
        partial["prefetch"]["conditions"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout"}],
        }
    else:  # the EHR sent the first page only
        partial["prefetch"]["conditions"]["link"] = [
            {"relation": "next", "url": f"{fhir_server.base}/Condition?_offset=1"}
        ]

    expected = cds.call(service.id, full).get_json()
    answered = cds.call(service.id, partial)

    assert answered.status_code == 200
    assert answered.get_json() == expected


def test_complete_prefetch_needs_no_fhir_server_even_off_the_allowlist(fhir_server: LocalFhirServer) -> None:
    cds = client("https://ehr.example.org/fhir")  # the local server is not allowlisted
    body = build_hook_request(DEMO[0], SERVICES["order-select"])
    body["fhirServer"] = fhir_server.base

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 200
    assert card_codes(response) == sorted(DEMO[0].expected_findings)


# --- (b) failures: expired token, slow server, server down, not allowed ------------------------------------

BLEEDING = next(p for p in DEMO if p.slug == "bleeding-disorder")


def test_expired_token_gives_a_warning_naming_the_missing_data(
    fhir_server: LocalFhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = "expired-7f3a9c1e5b2d4f60a8e1"  # noqa: S105 - a test token the test server refuses
    cds = client(fhir_server.base)
    authorization = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Condition.read patient/Observation.read",
        "subject": "dn-cds",
    }

    with caplog.at_level(logging.DEBUG):
        full, fetched = call_without(
            cds, BLEEDING, SERVICES["order-select"], fhir_server.base, fhirAuthorization=authorization
        )

    assert "bleeding-disorder" in codes(full)
    assert "bleeding-disorder" not in codes(fetched)  # could not be read: said so, not hidden
    assert "no-indication-found" not in codes(fetched)  # nor denied: the problem list could not be read
    card = incomplete_card(fetched)
    assert card["indicator"] == "warning"
    assert fetched["cards"][0] == card  # warnings come before the info cards
    # every key was refused: the summary says so in a few words, the detail names each data and why
    assert card["summary"] == "Could not read any patient data: none of the chart checks were done"
    for data in (
        "conditions",
        "pregnancy observations",
        "lab results",
        "medication orders",
        "medication list",
        "patient demographics",
        "procedures",
    ):
        assert f"{data}: the FHIR server refused the access token (HTTP 401)" in card["detail"]
    assert token not in str(fetched)
    assert caplog.records  # the logs were captured...
    assert token not in caplog.text  # ...and the token is in none of them


def test_slow_server_is_cut_off_at_the_time_budget(fhir_server: LocalFhirServer) -> None:
    cds = client(fhir_server.base, fhir_time_budget_seconds=0.5)
    authorization = {
        "access_token": "slow-30000-token",  # the test server answers after 30 s
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Condition.read patient/Observation.read",
        "subject": "dn-cds",
    }

    started = time.monotonic()
    _, fetched = call_without(
        cds, BLEEDING, SERVICES["order-select"], fhir_server.base, fhirAuthorization=authorization
    )
    waited = time.monotonic() - started

    card = incomplete_card(fetched)
    assert "within the time budget" in card["detail"]
    assert "bleeding-disorder" not in codes(fetched)
    assert waited < 20  # sanity bound: the answer did not wait for the slow server (30 s)


def test_a_patient_the_server_does_not_have_is_unreadable_demographics_never_none_on_file(
    fhir_server: LocalFhirServer,
) -> None:
    """The Patient read answered 404 (the server lacks, or hides, the hook's patient) is a failure of that
    key: the card says reproductive potential was not checked; the searches still answer."""
    patient_id = "dn-test-no-patient-resource"
    condition = {
        "resourceType": "Condition",
        "id": f"{patient_id}-bleeding",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D66"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    loaded = requests.put(f"{fhir_server.base}/Condition/{condition['id']}", json=condition, timeout=30)
    assert loaded.ok, loaded.text[:500]
    body = build_hook_request(BLEEDING, SERVICES["patient-view"], with_prefetch=False)
    body["context"]["patientId"] = patient_id
    body["fhirServer"] = fhir_server.base

    fetched = client(fhir_server.base).call(SERVICES["patient-view"].id, body)

    assert fetched.status_code == 200
    assert "bleeding-disorder" in card_codes(fetched)  # the Condition search answered
    card = incomplete_card(fetched.get_json())
    assert (
        card["summary"]
        == "Could not read patient demographics: reproductive potential (sex, age) not checked"
    )
    assert "HTTP 404" in card["detail"]


def test_server_down_gives_a_warning_not_an_error() -> None:
    down = unused_loopback_url()
    cds = client(down)

    _, fetched = call_without(cds, BLEEDING, SERVICES["patient-view"], down)

    card = incomplete_card(fetched)
    assert "could not be reached" in card["detail"]
    assert card["summary"] == "Could not read any patient data: none of the chart checks were done"
    assert "procedures: the FHIR server could not be reached" in card["detail"]


def test_fhir_server_off_the_allowlist_is_412(fhir_server: LocalFhirServer) -> None:
    cds = client("https://ehr.example.org/fhir")
    body = build_hook_request(BLEEDING, SERVICES["order-select"], with_prefetch=False)
    body["fhirServer"] = fhir_server.base

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 412
    issue = response.get_json()["issue"][0]
    assert "fhirServer is not allowed" in issue["diagnostics"]
    assert issue["expression"] == ["fhirServer"]


def test_no_prefetch_and_no_fhir_server_is_412(fhir_server: LocalFhirServer) -> None:
    cds = client(fhir_server.base)
    body = build_hook_request(BLEEDING, SERVICES["order-select"], with_prefetch=False)

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 412
    assert "no fhirServer" in response.get_json()["issue"][0]["diagnostics"]


def test_settings_keep_the_allowlist_exact(fhir_server: LocalFhirServer) -> None:
    """A sibling path on the same origin is not the allowlisted server."""
    cds = client(fhir_server.base + "-other")
    body = build_hook_request(BLEEDING, SERVICES["order-select"], with_prefetch=False)
    body["fhirServer"] = fhir_server.base

    assert cds.call(SERVICES["order-select"].id, body).status_code == 412
    assert replace(Settings(), fhir_server_allowlist=()).fhir_server_allowlist == ()
