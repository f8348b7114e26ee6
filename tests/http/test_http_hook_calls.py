"""Hook calls through the Flask test client: demo patients, public example payloads, prefetch semantics.

Every response is checked for CDS Hooks conformance by the ``cds`` client (conftest.py).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import replace
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest
from support.builders import no_data_prefetch
from support.cds_client import CdsClient, card_codes
from support.clock import TODAY
from support.paths import CDS_HOOKS_EXAMPLES
from support.services import SERVICES

from cds_service.demo import DemoPatient, build_hook_request, load_demo_patients
from cds_service.hook_request import parse_hook_request
from cds_service.patient_data import MissingReason, read_prefetch

EXAMPLES = CDS_HOOKS_EXAMPLES
PATIENTS = load_demo_patients(TODAY)
CONTRAINDICATIONS = {"pregnancy-first-trimester", "bleeding-disorder", "local-infection"}


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def request_for(patient: DemoPatient, hook: str, **kwargs: Any) -> dict[str, Any]:
    return build_hook_request(patient, SERVICES[hook], hook_instance=str(uuid.uuid4()), **kwargs)


def dn_order(order_id: str, *, site_code: str = "37822005", site: str = "Lumbar region") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "code": {
            "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}],
            "text": "Dry needling, 1 or 2 muscles",
        },
        "subject": {"reference": "Patient/pat-1"},
        "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": site_code, "display": site}]}],
    }


def hemophilia(patient: str = "pat-1") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"hemo-{patient}",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/sid/icd-10-cm",
                    "code": "D66",
                    "display": "Hereditary factor VIII deficiency",
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient}"},
        "recordedDate": "2020-03-01",
    }


def order_body(
    orders: list[dict[str, Any]],
    hook: str = "order-select",
    conditions: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "userId": "Practitioner/pt-1",
        "patientId": "pat-1",
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": o} for o in orders],
        },
    }
    if hook == "order-select":
        context["selections"] = [f"ServiceRequest/{orders[0]['id']}"]
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": no_data_prefetch(
            conditions={
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": c} for c in conditions or []],
            }
        ),
    }
    body.update(extra)
    return body


# --- demo patients: the end-to-end contract -------------------------------------------------------------


@pytest.mark.parametrize("patient", [pytest.param(p, id=p.slug) for p in PATIENTS])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_demo_patient_gets_expected_findings(cds: CdsClient, patient: DemoPatient, hook: str) -> None:
    response = cds.call(SERVICES[hook].id, request_for(patient, hook))

    assert response.status_code == 200
    assert card_codes(response) == sorted(patient.expected_findings)


@pytest.mark.parametrize("patient", [pytest.param(p, id=p.slug) for p in PATIENTS])
def test_contraindication_always_has_its_critical_card(cds: CdsClient, patient: DemoPatient) -> None:
    cards = cds.call(SERVICES["order-select"].id, request_for(patient, "order-select")).get_json()["cards"]

    for card in cards:
        code = card["source"]["topic"]["code"]
        if code in CONTRAINDICATIONS:
            assert card["indicator"] == "critical"
            delete = card["suggestions"][0]["actions"][0]
            assert delete == {
                "type": "delete",
                "description": delete["description"],
                "resourceId": patient.order_reference,
            }
            assert card["overrideReasons"]


@pytest.mark.parametrize("patient", [pytest.param(p, id=p.slug) for p in PATIENTS])
def test_patient_view_summarises_without_an_order(cds: CdsClient, patient: DemoPatient) -> None:
    response = cds.call(SERVICES["patient-view"].id, request_for(patient, "patient-view"))

    codes = card_codes(response)
    assert "risk-disclosure" not in codes
    assert {"indication-found", "no-indication-found"} & set(codes)
    for code in set(patient.expected_findings) & {"pregnancy-first-trimester", "bleeding-disorder"}:
        assert code in codes
    for card in response.get_json()["cards"]:
        assert "suggestions" not in card


def test_first_trimester_card_states_the_computed_gestational_age(cds: CdsClient) -> None:
    patient = next(p for p in PATIENTS if p.slug == "first-trimester")
    cards = cds.call(SERVICES["order-select"].id, request_for(patient, "order-select")).get_json()["cards"]

    pregnancy = next(c for c in cards if c["source"]["topic"]["code"] == "pregnancy-first-trimester")
    assert pregnancy["summary"] == "Contraindicated: first-trimester pregnancy, GA 9w0d"
    assert "estimated due date" in pregnancy["detail"]
    assert cards[0] is pregnancy  # critical first


def test_disclosure_suggestion_updates_the_draft_order(cds: CdsClient) -> None:
    patient = next(p for p in PATIENTS if p.slug == "eligible")
    cards = cds.call(SERVICES["order-sign"].id, request_for(patient, "order-sign")).get_json()["cards"]

    disclosure = next(c for c in cards if c["source"]["topic"]["code"] == "risk-disclosure")
    action = disclosure["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    updated = ServiceRequest.model_validate(action["resource"])
    assert updated.id == patient.order_reference.split("/")[1]
    assert "do not drive" in (updated.patientInstruction or "")
    # the eligible patient's site is away from the lung: no lung-collapse signs (clinical review 2026-12)
    assert "several hours" not in (updated.patientInstruction or "")


def test_card_uuids_are_stable_per_hook_instance_and_unique(cds: CdsClient) -> None:
    patient = next(p for p in PATIENTS if p.slug == "bleeding-disorder")
    body = request_for(patient, "order-select")
    first = cds.call(SERVICES["order-select"].id, body).get_json()["cards"]
    again = cds.call(SERVICES["order-select"].id, body).get_json()["cards"]
    body["hookInstance"] = str(uuid.uuid4())
    other = cds.call(SERVICES["order-select"].id, body).get_json()["cards"]

    uuids = [c["uuid"] for c in first]
    assert len(set(uuids)) == len(uuids)
    assert uuids == [c["uuid"] for c in again]
    assert not set(uuids) & {c["uuid"] for c in other}


# --- which orders are acted on ---------------------------------------------------------------------------


def test_order_select_acts_only_on_the_selected_order(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a"), dn_order("dn-b")], conditions=[hemophilia()])

    cards = cds.call(SERVICES["order-select"].id, body).get_json()["cards"]

    bleeding = next(c for c in cards if c["source"]["topic"]["code"] == "bleeding-disorder")
    assert [a["resourceId"] for a in bleeding["suggestions"][0]["actions"]] == ["ServiceRequest/dn-a"]
    assert all("ServiceRequest/dn-b" not in json.dumps(c) for c in cards)


def test_order_sign_acts_on_every_dry_needling_order(cds: CdsClient) -> None:
    other = dn_order("pt-eval")
    other["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97161"}]}
    body = order_body(
        [dn_order("dn-a"), dn_order("dn-b", site_code="45048000", site="Neck"), other],
        hook="order-sign",
        conditions=[hemophilia()],
    )

    cards = cds.call(SERVICES["order-sign"].id, body).get_json()["cards"]

    bleeding = next(c for c in cards if c["source"]["topic"]["code"] == "bleeding-disorder")
    removed = [a["resourceId"] for a in bleeding["suggestions"][0]["actions"]]
    assert removed == ["ServiceRequest/dn-a", "ServiceRequest/dn-b"]
    assert [c["source"]["topic"]["code"] for c in cards].count("risk-disclosure") == 2
    assert "ServiceRequest/pt-eval" not in json.dumps(cards)


def test_selection_matches_type_and_id_not_full_url(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")], conditions=[hemophilia()])
    body["context"]["draftOrders"]["entry"][0]["fullUrl"] = "urn:uuid:0f3c5a2e-8d1b-4c55-9a7e-1b2c3d4e5f60"

    assert "bleeding-disorder" in card_codes(cds.call(SERVICES["order-select"].id, body))


def test_draft_orders_bundle_without_type_is_tolerated(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")], conditions=[hemophilia()])
    del body["context"]["draftOrders"]["type"]

    assert "bleeding-disorder" in card_codes(cds.call(SERVICES["order-select"].id, body))


def test_no_dry_needling_order_needs_no_patient_data(cds: CdsClient) -> None:
    acupuncture = dn_order("acu-1")
    acupuncture["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97810"}]}
    body = order_body([acupuncture])
    del body["prefetch"]

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


# --- public example payloads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "service_hook"),
    [
        ("request-order-select-servicerequest-pama-scenario-01.json", "order-select"),
        ("request-order-select-servicerequest-pama-scenario-02.json", "order-select"),
        ("request-order-sign-servicerequest-davinci-crd.json", "order-sign"),
        ("request-order-sign-communicationrequest-davinci-crd.json", "order-sign"),
        ("request-order-sign-pagination-spec-3.0-ballot.json", "order-sign"),
    ],
)
def test_public_examples_without_dry_needling_get_no_cards(
    cds: CdsClient, name: str, service_hook: str
) -> None:
    response = cds.call(SERVICES[service_hook].id, example(name))

    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


@pytest.mark.parametrize(
    ("name", "hook"),
    [
        ("context-order-select-r4-library-1.0.1.json", "order-select"),
        ("context-order-sign-r4-library-1.0.1.json", "order-sign"),
    ],
)
def test_library_contexts_with_nutrition_and_medication_orders(cds: CdsClient, name: str, hook: str) -> None:
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), **example(name)}

    response = cds.call(SERVICES[hook].id, body)

    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_pama_example_turned_into_dry_needling_is_evaluated(cds: CdsClient) -> None:
    body = example("request-order-select-servicerequest-pama-scenario-01.json")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20561"}]}
    body["prefetch"] = no_data_prefetch()

    response = cds.call(SERVICES["order-select"].id, body)

    assert card_codes(response) == ["indication-found", "risk-disclosure"]  # reason: SNOMED low back pain


def test_appointment_book_is_not_served(cds: CdsClient) -> None:
    response = cds.call(SERVICES["order-sign"].id, example("request-appointment-book-davinci-crd.json"))

    assert response.status_code == 400


def test_patient_view_spec_example_without_our_prefetch_is_412(cds: CdsClient) -> None:
    response = cds.call(SERVICES["patient-view"].id, example("request-patient-view-spec-2.0.1.json"))

    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]


def test_patient_view_extension_example_missing_patient_is_400(cds: CdsClient) -> None:
    response = cds.call(
        SERVICES["patient-view"].id, example("request-patient-view-extension-spec-2.0.1.json")
    )

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["context.patientId"]


# --- prefetch semantics -----------------------------------------------------------------------------------


def test_missing_prefetch_without_fhir_server_is_412(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")])
    del body["prefetch"]["conditions"]

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "failed_value",
    [
        pytest.param(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "timeout", "diagnostics": "query timed out"}],
            },
            id="operation-outcome",
        ),
        pytest.param(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "OperationOutcome",
                            "issue": [{"severity": "fatal", "code": "exception"}],
                        },
                        "search": {"mode": "outcome"},
                    }
                ],
            },
            id="bundle-with-error-outcome",
        ),
    ],
)
def test_prefetch_that_failed_at_the_ehr_is_not_taken_as_empty(cds: CdsClient, failed_value: Any) -> None:
    body = order_body([dn_order("dn-a")])
    body["prefetch"]["conditions"] = failed_value

    assert cds.call(SERVICES["order-select"].id, body).status_code == 412


def test_informational_outcome_in_a_bundle_is_ignored(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")], conditions=[hemophilia()])
    body["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "information", "code": "informational", "diagnostics": "2 results"}],
            },
            "search": {"mode": "outcome"},
        }
    )

    assert "bleeding-disorder" in card_codes(cds.call(SERVICES["order-select"].id, body))


def test_null_prefetch_means_no_data(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")])
    body["prefetch"] = no_data_prefetch()

    response = cds.call(SERVICES["order-select"].id, body)

    assert card_codes(response) == ["no-indication-found", "risk-disclosure"]


def test_single_resource_prefetch_value_is_read(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")])
    body["prefetch"]["conditions"] = hemophilia()

    assert "bleeding-disorder" in card_codes(cds.call(SERVICES["order-select"].id, body))


def test_another_patients_resources_are_ignored(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")], conditions=[hemophilia(patient="someone-else")])

    assert "bleeding-disorder" not in card_codes(cds.call(SERVICES["order-select"].id, body))


def test_unknown_extension_keys_are_ignored(cds: CdsClient) -> None:
    body = order_body(
        [dn_order("dn-a")], conditions=[hemophilia()], extension={"com.example.unknown": {"x": 1}}
    )
    body["context"]["extension"] = {"com.example.other": True}

    assert "bleeding-disorder" in card_codes(cds.call(SERVICES["order-select"].id, body))


def test_request_is_not_mutated_by_evaluation(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")], conditions=[hemophilia()])
    before = copy.deepcopy(body)

    cds.call(SERVICES["order-select"].id, body)

    assert body == before


# --- prefetch completeness: a paged, truncated or unreadable Bundle is never taken as the whole answer ------


def searchset(*entries: Any, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", **fields, "entry": list(entries)}


def match(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "search": {"mode": "match"}}


PAGE_LINKS = [
    {"relation": "self", "url": "https://ehr.example.org/fhir/Condition?patient=pat-1&_count=1"},
    {"relation": "next", "url": "https://ehr.example.org/fhir/Condition?patient=pat-1&_count=1&_page=2"},
]


@pytest.mark.parametrize(
    ("conditions", "reason"),
    [
        pytest.param(searchset(match(hemophilia()), link=PAGE_LINKS), "incomplete", id="next-link"),
        pytest.param(
            searchset(match(hemophilia()), total=2, link=PAGE_LINKS), "incomplete", id="next-link-and-total"
        ),
        pytest.param(searchset(match(hemophilia()), total=2), "incomplete", id="total-above-entries"),
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset", "total": 1},
            "incomplete",
            id="total-without-entries",
        ),
        pytest.param(
            searchset(
                match(hemophilia()),
                {"resource": {**hemophilia(), "id": "other"}, "search": {"mode": "include"}},
                total=2,
            ),
            "incomplete",
            id="include-does-not-count",
        ),
        pytest.param(
            searchset(
                match(hemophilia()),
                {
                    "resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]},
                },
                total=2,
            ),
            "incomplete",
            id="outcome-does-not-count",
        ),
        pytest.param(
            searchset(match(hemophilia()), link={"relation": "next", "url": "https://x.example/2"}),
            "incomplete",
            id="next-link-as-object",
        ),
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset", "entry": {"resource": hemophilia()}},
            "unreadable",
            id="entry-object",
        ),
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset", "entry": None}, "unreadable", id="entry-null"
        ),
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset", "entry": "Condition/hemo-pat-1"},
            "unreadable",
            id="entry-string",
        ),
        pytest.param(
            searchset(match(hemophilia()), "Condition/hemo-pat-1"), "unreadable", id="entry-item-string"
        ),
        pytest.param(searchset(match(hemophilia()), None), "unreadable", id="entry-item-null"),
        pytest.param(
            searchset(match(hemophilia()), {"resource": ["not", "a", "resource"]}),
            "unreadable",
            id="entry-resource-array",
        ),
        pytest.param(
            searchset(match(hemophilia()), {"resource": {"id": "no-type"}}),
            "unreadable",
            id="entry-resource-without-type",
        ),
        pytest.param(searchset(match(hemophilia()), total="1"), "unreadable", id="total-string"),
        pytest.param(searchset(match(hemophilia()), total=-1), "unreadable", id="total-negative"),
        pytest.param(searchset(match(hemophilia()), total=True), "unreadable", id="total-boolean"),
    ],
)
def test_incomplete_or_unreadable_prefetch_bundle_is_412_not_empty(
    cds: CdsClient, conditions: dict[str, Any], reason: str
) -> None:
    body = order_body([dn_order("dn-a")])
    body["prefetch"]["conditions"] = conditions

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 412
    diagnostics = response.get_json()["issue"][0]["diagnostics"]
    assert f"conditions ({reason}:" in diagnostics
    assert "pregnancyObservations" not in diagnostics  # null: known empty, usable
    if reason == "incomplete":
        assert "paged" in diagnostics


@pytest.mark.parametrize(
    "conditions",
    [
        pytest.param(searchset(match(hemophilia()), total=1, link=PAGE_LINKS[:1]), id="self-link"),
        pytest.param(
            searchset(
                match(hemophilia()),
                {
                    "resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]},
                    "search": {"mode": "outcome"},
                },
                total=1,
            ),
            id="outcome-entry",
        ),
        pytest.param(searchset({"resource": hemophilia()}, total=1), id="no-search-mode"),
        pytest.param(
            searchset(match(hemophilia()), link=[{"relation": "previous", "url": "https://x.example/0"}]),
            id="previous-link",
        ),
        pytest.param(
            searchset(match(hemophilia()), total=0), id="total-below"
        ),  # a total below the entries is the EHR's problem, not a gap
        pytest.param(
            {"resourceType": "Bundle", "type": "searchset", "total": 0, "link": PAGE_LINKS[:1]},
            id="empty-complete",
        ),
        pytest.param(
            searchset(
                match(hemophilia()),
                {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": ["error"]}]}},
                {"resource": {**hemophilia(), "id": "h2"}, "search": {"mode": {"code": "match"}}},
                total=1,
            ),
            id="odd-types-in-mode-and-severity",
        ),
    ],
)
def test_complete_prefetch_bundle_is_evaluated(cds: CdsClient, conditions: dict[str, Any]) -> None:
    body = order_body([dn_order("dn-a")])
    body["prefetch"]["conditions"] = conditions

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 200
    assert ("bleeding-disorder" in card_codes(response)) == bool(conditions.get("entry"))


def test_412_names_each_unusable_key_and_why(cds: CdsClient) -> None:
    body = order_body([dn_order("dn-a")], fhirServer="https://ehr.example.org/fhir")
    body["prefetch"]["conditions"] = searchset(match(hemophilia()), link=PAGE_LINKS)
    body["prefetch"]["pregnancyObservations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }

    response = cds.call(SERVICES["order-select"].id, body)

    assert response.status_code == 412
    diagnostics = response.get_json()["issue"][0]["diagnostics"]
    assert "conditions (incomplete: paged or truncated" in diagnostics
    assert "pregnancyObservations (failed:" in diagnostics
    assert "fhirServer is not allowed" in diagnostics  # DN_CDS_FHIR_SERVER_ALLOWLIST is empty by default
    del body["prefetch"]["pregnancyObservations"]
    diagnostics = cds.call(SERVICES["order-select"].id, body).get_json()["issue"][0]["diagnostics"]
    assert "pregnancyObservations (missing: not sent)" in diagnostics


def test_read_prefetch_keeps_a_reason_per_missing_key() -> None:
    service = SERVICES["order-select"]
    request = parse_hook_request(order_body([dn_order("dn-a")]))
    prefetch = {
        "conditions": searchset(match(hemophilia()), total=3),
        "pregnancyObservations": {"resourceType": "OperationOutcome", "issue": []},
        "patient": None,
        "procedures": None,
    }

    reading = read_prefetch(replace(request, prefetch=prefetch), service)

    assert reading.resources == {"patient": [], "procedures": []}
    assert reading.missing == {
        "conditions": MissingReason.INCOMPLETE,
        "pregnancyObservations": MissingReason.FAILED,
        "labObservations": MissingReason.MISSING,
        "medicationRequests": MissingReason.MISSING,
        "medicationStatements": MissingReason.MISSING,
        "allergyIntolerances": MissingReason.MISSING,
    }
    assert read_prefetch(replace(request, prefetch={}), service).missing == dict.fromkeys(
        service.prefetch, MissingReason.MISSING
    )
    assert read_prefetch(
        replace(request, prefetch={"conditions": {"resourceType": "Bundle", "entry": 7}}), service
    ).missing == {
        "conditions": MissingReason.UNREADABLE,
        "pregnancyObservations": MissingReason.MISSING,
        "labObservations": MissingReason.MISSING,
        "medicationRequests": MissingReason.MISSING,
        "medicationStatements": MissingReason.MISSING,
        "patient": MissingReason.MISSING,
        "procedures": MissingReason.MISSING,
        "allergyIntolerances": MissingReason.MISSING,
    }
