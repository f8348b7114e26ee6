"""The bundled demo patients, the date shifting that keeps them current, and the ``dn-cds demo`` command."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from support.cds_client import CdsClient
from support.clock import TODAY as SUITE_TODAY

from cds_service.catalog import ServiceDefinition, load_catalog
from cds_service.cli import main
from cds_service.demo import (
    DEMO_DIR,
    DEMO_USER,
    DemoPatient,
    answer_prefetch,
    build_hook_request,
    load_demo_patients,
    shift_dates,
)

AUTHORED_ON = date(2026, 11, 26)
TODAY = date(2027, 3, 1)  # 95 days after authoredOn, across the February of a non-leap year
SHIFT = (TODAY - AUTHORED_ON).days
INDEX = json.loads((DEMO_DIR / "index.json").read_text(encoding="utf-8"))
HTEST = ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST")
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


@pytest.fixture(scope="module")
def patients() -> list[DemoPatient]:
    return load_demo_patients(TODAY)


@pytest.fixture(scope="module")
def services() -> dict[str, ServiceDefinition]:
    return {service.hook: service for service in load_catalog().services}


def _patient(patients: list[DemoPatient], slug: str) -> DemoPatient:
    return next(p for p in patients if p.slug == slug)


# --- shift_dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        pytest.param("2026-11-26", 3, "2026-11-29", id="date"),
        pytest.param("2026-11-26", -30, "2026-10-27", id="date-backwards"),
        pytest.param("2026-11-26T10:15:00-05:00", 3, "2026-11-29T10:15:00-05:00", id="datetime-offset"),
        pytest.param(
            "2026-12-30T23:59:59.123+01:00", 5, "2027-01-04T23:59:59.123+01:00", id="instant-across-year"
        ),
        pytest.param("2026-11-26T10:15:00Z", 95, "2027-03-01T10:15:00Z", id="datetime-utc"),
        pytest.param("2028-02-28", 1, "2028-02-29", id="leap-day"),  # leap day
        pytest.param("1981-03-12", 365, "1982-03-12", id="birth-date"),
        pytest.param("2026-11-26", 0, "2026-11-26", id="zero-shift"),
    ],
)
def test_shift_dates_moves_full_dates_and_datetimes(value: str, days: int, expected: str) -> None:
    assert shift_dates(value, days) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026",  # partial date: year
        "2026-11",  # partial date: year-month
        "82810-3",  # LOINC code
        "20560",  # CPT code
        "M54.50",  # ICD-10-CM code
        "10:15:00",  # FHIR time
        "2026-02-30",  # not a calendar date
        "2026-11-26 follow-up visit",  # free text starting with a date
        "Seen on 2026-11-26",
        "urn:uuid:2026-11-26",
        "",
    ],
    ids=lambda value: value or "empty",
)
def test_shift_dates_leaves_other_strings_alone(value: str) -> None:
    assert shift_dates(value, 40) == value


def test_shift_dates_walks_a_resource_and_leaves_the_original_unchanged() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "obs-edd-1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "11778-8", "display": "Delivery date Estimated"}]},
        "subject": {"reference": "Patient/dn-first-trimester"},
        "effectiveDateTime": "2026-10-01T09:00:00-05:00",
        "valueDateTime": "2027-07-01",
        "issued": "2026-10-01T14:00:00.000-05:00",
        "note": [{"text": "Dated by first-trimester ultrasound", "time": "2026-10-01T09:30:00-05:00"}],
        "component": [{"code": {"text": "LMP"}, "valueString": "2026-09"}],
        "extension": [
            {"url": "urn:example:flag", "valueBoolean": True},
            {"url": "urn:x", "valueInteger": 2026},
        ],
    }
    before = json.loads(json.dumps(observation))
    shifted = shift_dates(observation, 10)
    assert observation == before
    assert shifted["effectiveDateTime"] == "2026-10-11T09:00:00-05:00"
    assert shifted["valueDateTime"] == "2027-07-11"
    assert shifted["issued"] == "2026-10-11T14:00:00.000-05:00"
    assert shifted["note"][0]["time"] == "2026-10-11T09:30:00-05:00"
    assert shifted["note"][0]["text"] == "Dated by first-trimester ultrasound"
    assert shifted["component"][0]["valueString"] == "2026-09"
    assert shifted["extension"] == observation["extension"]
    assert shifted["code"] == observation["code"]


# --- load_demo_patients ---------------------------------------------------------------------------------


def test_twelve_demo_patients_with_unique_slugs(patients: list[DemoPatient]) -> None:
    assert len(patients) == 12
    slugs = [p.slug for p in patients]
    assert len(set(slugs)) == 12
    assert slugs == [entry["slug"] for entry in INDEX["patients"]]
    assert len({p.patient_id for p in patients}) == 12


def test_demo_patients_show_an_anticoagulant_and_the_lab_thresholds(patients: list[DemoPatient]) -> None:
    """An EHR team trying the demo sees the medication and lab cards, not only conditions and pregnancy."""
    shown = {code for patient in patients for code in patient.expected_findings}
    assert {"antithrombotic-therapy", "inr-elevated", "severe-thrombocytopenia"} <= shown


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["slug"]) for e in INDEX["patients"]])
def test_each_demo_patient_has_exactly_one_draft_order(
    entry: dict[str, Any], patients: list[DemoPatient]
) -> None:
    patient = _patient(patients, entry["slug"])
    [order] = patient.draft_orders
    assert f"ServiceRequest/{order['id']}" == entry["order"] == patient.order_reference
    assert order["subject"]["reference"] == f"Patient/{patient.patient_id}"
    assert order not in patient.chart
    assert len(patient.chart) == len(patient.resources) - 1
    [person] = [r for r in patient.resources if r["resourceType"] == "Patient"]
    assert person["id"] == entry["patientId"]
    assert patient.expected_findings == tuple(sorted(entry["expectedFindings"]))


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["slug"]) for e in INDEX["patients"]])
def test_every_demo_resource_is_valid_fhir(entry: dict[str, Any], patients: list[DemoPatient]) -> None:
    patient = _patient(patients, entry["slug"])
    assert len(patient.resources) >= 3
    for resource in patient.resources:
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)
    bundle = json.loads((DEMO_DIR / entry["file"]).read_text(encoding="utf-8"))
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "transaction"


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["slug"]) for e in INDEX["patients"]])
def test_every_demo_resource_is_labelled_test_data(
    entry: dict[str, Any], patients: list[DemoPatient]
) -> None:
    patient = _patient(patients, entry["slug"])
    for resource in patient.resources:
        labels = {(s["system"], s["code"]) for s in resource["meta"]["security"]}
        assert HTEST in labels, f"{resource['resourceType']}/{resource['id']}"


@pytest.mark.parametrize("today", [AUTHORED_ON, TODAY, date(2028, 2, 29)], ids=str)
def test_the_order_is_authored_today(today: date) -> None:
    for patient in load_demo_patients(today):
        [order] = patient.draft_orders
        assert order["authoredOn"] == f"{today.isoformat()}T10:15:00-05:00"


def test_every_date_keeps_its_distance_to_today(patients: list[DemoPatient]) -> None:
    original = load_demo_patients(AUTHORED_ON)
    eligible_then = _patient(original, "eligible")
    eligible_now = _patient(patients, "eligible")
    [status_then] = [r for r in eligible_then.chart if r["resourceType"] == "Observation"]
    [status_now] = [r for r in eligible_now.chart if r["resourceType"] == "Observation"]
    then = date.fromisoformat(status_then["effectiveDateTime"][:10])
    now = date.fromisoformat(status_now["effectiveDateTime"][:10])
    assert (now - then).days == SHIFT
    assert status_now["effectiveDateTime"][10:] == status_then["effectiveDateTime"][10:]


# --- answer_prefetch ------------------------------------------------------------------------------------


def _observation(obs_id: str, patient_id: str, system: str, code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-11-20T09:10:00-05:00",
    }


CHART = [
    {"resourceType": "Patient", "id": "pat-a", "gender": "female", "birthDate": "1990-04-02"},
    _observation("obs-a-status", "pat-a", LOINC, "82810-3", "Pregnancy status"),
    _observation("obs-a-edd", "pat-a", LOINC, "11778-8", "Delivery date Estimated"),
    _observation("obs-a-hb", "pat-a", LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
    _observation("obs-b-status", "pat-b", LOINC, "82810-3", "Pregnancy status"),
    _observation("obs-a-snomed", "pat-a", SNOMED, "82810-3", "same code, other system"),
    {
        "resourceType": "Condition",
        "id": "cond-a-lbp",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}]},
        "subject": {"reference": "Patient/pat-a"},
    },
]


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("Condition?patient={{context.patientId}}", ["cond-a-lbp"], id="conditions-of-patient"),
        pytest.param(
            "Observation?patient={{context.patientId}}",
            ["obs-a-status", "obs-a-edd", "obs-a-hb", "obs-a-snomed"],
            id="observations-of-patient",
        ),
        pytest.param(
            "Observation?subject=Patient/{{context.patientId}}&code=http://loinc.org|82810-3",
            ["obs-a-status"],
            id="subject-and-code",
        ),
        pytest.param(
            "Observation?patient={{context.patientId}}&code=http://loinc.org|82810-3,http://loinc.org|11778-8",
            ["obs-a-status", "obs-a-edd"],
            id="code-list",
        ),
        pytest.param(
            "Observation?patient={{ context.patientId }}&code=82810-3",
            ["obs-a-status", "obs-a-snomed"],
            id="code-without-system",
        ),
        pytest.param(
            "Observation?code=http://loinc.org|82810-3",
            ["obs-a-status", "obs-b-status"],
            id="code-for-every-patient",
        ),
        pytest.param(
            "Observation?patient={{context.patientId}}&code=http://loinc.org|2339-0", [], id="no-match"
        ),
        pytest.param("MedicationRequest?patient={{context.patientId}}", [], id="no-resources-of-type"),
    ],
)
def test_answer_prefetch_filters_by_patient_and_code(template: str, expected: list[str]) -> None:
    bundle = answer_prefetch(template, CHART, {"patientId": "pat-a", "userId": DEMO_USER})
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == len(expected)
    assert _ids(bundle) == expected
    if not expected:
        assert "entry" not in bundle
    for entry in bundle.get("entry", []):
        assert entry["search"] == {"mode": "match"}
        assert entry["fullUrl"] == f"{entry['resource']['resourceType']}/{entry['resource']['id']}"
    get_fhir_model_class("Bundle").model_validate(bundle)


def test_answer_prefetch_filters_by_status() -> None:
    def med(med_id: str, status: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": med_id,
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": {"text": "Warfarin 5 mg"},
            "subject": {"reference": "Patient/pat-a"},
        }

    chart = [
        med("m-active", "active"),
        med("m-held", "on-hold"),
        med("m-done", "completed"),
        med("m-none", ""),
    ]
    template = "MedicationRequest?patient={{context.patientId}}&status=active,on-hold,unknown"
    assert _ids(answer_prefetch(template, chart, {"patientId": "pat-a"})) == ["m-active", "m-held"]
    assert _ids(answer_prefetch("MedicationRequest?patient=pat-a", chart, {})) == [
        "m-active",
        "m-held",
        "m-done",
        "m-none",
    ]


def test_answer_prefetch_returns_copies() -> None:
    bundle = answer_prefetch("Condition?patient={{context.patientId}}", CHART, {"patientId": "pat-a"})
    bundle["entry"][0]["resource"]["code"]["coding"][0]["code"] = "Z00.00"
    assert CHART[-1]["code"]["coding"][0]["code"] == "M54.50"


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("Observation?patient={{context.patientId}}&_count=50", id="count"),
        pytest.param("Observation?patient={{context.patientId}}&date=ge2026-01-01", id="date"),
        pytest.param("Condition?patient={{context.patientId}}&clinical-status=active", id="clinical-status"),
        pytest.param("Observation?patient={{context.patientId}}&category=laboratory", id="category"),
    ],
)
def test_answer_prefetch_refuses_unsupported_search_parameters(template: str) -> None:
    with pytest.raises(ValueError, match="unsupported search parameter"):
        answer_prefetch(template, CHART, {"patientId": "pat-a"})


# --- build_hook_request ---------------------------------------------------------------------------------


def test_order_select_request_has_selections_draft_orders_and_prefetch(
    patients: list[DemoPatient], services: dict[str, ServiceDefinition]
) -> None:
    patient = _patient(patients, "first-trimester")
    service = services["order-select"]
    body = build_hook_request(patient, service, hook_instance="0b8e9a4c-52a1-4a4f-9c2e-0d6a1f1f3b77")
    assert body["hook"] == "order-select"
    assert body["hookInstance"] == "0b8e9a4c-52a1-4a4f-9c2e-0d6a1f1f3b77"
    context = body["context"]
    assert context["userId"] == DEMO_USER
    assert context["patientId"] == "dn-first-trimester"
    assert context["selections"] == ["ServiceRequest/dn-first-trimester-order"]
    draft_orders = context["draftOrders"]
    assert draft_orders["resourceType"] == "Bundle"
    assert [e["resource"]["id"] for e in draft_orders["entry"]] == ["dn-first-trimester-order"]
    assert (
        set(body["prefetch"])
        == set(service.prefetch)
        == {
            "allergyIntolerances",
            "conditions",
            "pregnancyObservations",
            "labObservations",
            "medicationRequests",
            "medicationStatements",
            "patient",
            "procedures",
        }
    )
    assert body["prefetch"]["patient"]["id"] == "dn-first-trimester"  # a read: the resource itself
    for key, bundle in body["prefetch"].items():
        if key == "patient":
            continue
        assert bundle["type"] == "searchset", key
        for entry in bundle.get("entry", []):
            assert entry["resource"]["subject"]["reference"] == "Patient/dn-first-trimester"
            assert entry["resource"]["resourceType"] == service.prefetch[key].split("?")[0]
    assert body["prefetch"]["pregnancyObservations"]["total"] >= 1
    json.dumps(body)  # the body is plain JSON


def test_order_sign_request_has_no_selections(
    patients: list[DemoPatient], services: dict[str, ServiceDefinition]
) -> None:
    body = build_hook_request(_patient(patients, "eligible"), services["order-sign"])
    assert "selections" not in body["context"]
    assert len(body["context"]["draftOrders"]["entry"]) == 1


def test_patient_view_request_has_no_orders(
    patients: list[DemoPatient], services: dict[str, ServiceDefinition]
) -> None:
    body = build_hook_request(_patient(patients, "eligible"), services["patient-view"])
    assert body["context"] == {"userId": DEMO_USER, "patientId": "dn-eligible"}
    assert set(body["prefetch"]) == set(services["patient-view"].prefetch)


def test_hook_request_without_prefetch_gets_a_fresh_hook_instance(
    patients: list[DemoPatient], services: dict[str, ServiceDefinition]
) -> None:
    patient = _patient(patients, "eligible")
    first = build_hook_request(patient, services["order-select"], with_prefetch=False)
    second = build_hook_request(patient, services["order-select"], with_prefetch=False)
    assert "prefetch" not in first
    assert first["hookInstance"] != second["hookInstance"]
    assert len(first["hookInstance"]) == 36


# --- dn-cds demo ----------------------------------------------------------------------------------------


def test_demo_command_runs_every_patient_through_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    output = capsys.readouterr().out
    for entry in INDEX["patients"]:
        assert f"== {entry['title']} [{entry['slug']}]  HTTP 200, as expected" in output
    assert "12 patients, 0 differing from the expected findings." in output
    assert "[CRITICAL] Contraindicated: first-trimester pregnancy, GA 9w0d" in output
    assert "(no cards)" in output  # the acupuncture order


def test_answer_prefetch_answers_a_read_template_with_the_resource_or_none() -> None:
    """A read template (``Patient/{{context.patientId}}``): the resource itself, or null when absent."""
    patient = answer_prefetch("Patient/{{context.patientId}}", CHART, {"patientId": "pat-a"})
    assert patient == CHART[0]
    assert patient is not CHART[0]
    assert answer_prefetch("Patient/{{context.patientId}}", CHART, {"patientId": "pat-z"}) is None


@pytest.mark.parametrize(
    ("slug", "code", "shown", "not_shown"),
    [
        ("warfarin-inr-elevated", "inr-elevated", "INR 3.4 INR", "{INR}"),
        ("severe-thrombocytopenia", "severe-thrombocytopenia", "15 x10^9/L", "10\\*9/L"),
    ],
)
def test_lab_card_shows_the_unit_the_lab_sent(
    slug: str, code: str, shown: str, not_shown: str, services: dict[str, ServiceDefinition], cds: CdsClient
) -> None:
    """The result 'as sent' uses the readable valueQuantity.unit ("INR", "x10^9/L"), not the UCUM code."""
    patient = _patient(load_demo_patients(SUITE_TODAY), slug)
    service = services["order-sign"]
    cards = cds.call(service.id, build_hook_request(patient, service)).get_json()["cards"]
    [card] = [c for c in cards if c["source"]["topic"]["code"] == code]
    assert shown in card["detail"]
    assert not_shown not in card["detail"]
