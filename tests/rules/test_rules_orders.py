"""Which draft orders are dry-needling orders (architecture.md section 3)."""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    CPT,
    CPT_OID,
    body_site,
    coding,
    cpt,
    draft_orders,
    dry_needling_order,
    medication_request,
    patient_record,
    sct,
    service_request,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders

LOCAL_SYSTEM = "https://ehr.example.org/fhir/CodeSystem/procedure-catalog"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            cpt("20560", "Needle insertion(s) without injection(s); 1 or 2 muscle(s)"), id="cpt-20560"
        ),
        pytest.param(
            cpt("20561", "Needle insertion(s) without injection(s); 3 or more muscles"), id="cpt-20561"
        ),
        pytest.param(cpt("20560", system=CPT_OID), id="oid-20560"),
        pytest.param(cpt("20561", system=CPT_OID), id="oid-20561"),
        pytest.param(cpt("20560", system=CPT + "/"), id="trailing-slash-20560"),
    ],
)
def test_dry_needling_cpt_detected(code: dict[str, Any], knowledge: Knowledge) -> None:
    order = service_request(code, id="dn-1")
    found = find_dry_needling_orders(draft_orders(order), knowledge)
    assert [o.reference for o in found] == ["ServiceRequest/dn-1"]


def test_cpt_among_other_codings_detected(knowledge: Knowledge) -> None:
    order = service_request(coding(LOCAL_SYSTEM, "PT-DN-01", "Dry needling"), cpt("20561"), id="dn-2")
    assert [o.reference for o in find_dry_needling_orders(draft_orders(order), knowledge)] == [
        "ServiceRequest/dn-2"
    ]


@pytest.mark.parametrize(
    ("code", "display"),
    [
        pytest.param(
            "97810",
            "Acupuncture, 1 or more needles; without electrical stimulation, initial 15 minutes",
            id="acupuncture-97810",
        ),
        pytest.param(
            "97811",
            "Acupuncture without electrical stimulation, each additional 15 minutes",
            id="acupuncture-97811",
        ),
        pytest.param(
            "97813",
            "Acupuncture, 1 or more needles; with electrical stimulation, initial 15 minutes",
            id="acupuncture-97813",
        ),
        pytest.param(
            "97814",
            "Acupuncture with electrical stimulation, each additional 15 minutes",
            id="acupuncture-97814",
        ),
        pytest.param(
            "20552", "Injection(s); single or multiple trigger point(s), 1 or 2 muscle(s)", id="tpi-20552"
        ),
        pytest.param(
            "20553", "Injection(s); single or multiple trigger point(s), 3 or more muscles", id="tpi-20553"
        ),
    ],
)
def test_look_alike_procedures_not_detected(code: str, display: str, knowledge: Knowledge) -> None:
    order = service_request(cpt(code, display), id="other-1", text=display)
    found = find_dry_needling_orders(draft_orders(order), knowledge)
    assert found == []
    # ... so an order hook with only look-alikes gives no findings at all (no cards).
    assert evaluate_orders(found, patient_record(), knowledge, TODAY) == []


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(
            medication_request("197361", "amlodipine 5 MG Oral Tablet", id="rx-1"), id="medication-request"
        ),
        pytest.param(
            {**dry_needling_order(id="x"), "resourceType": "MedicationRequest"},
            id="medication-request-with-cpt-code",
        ),
        pytest.param(
            {**dry_needling_order(id="np-1"), "resourceType": "NutritionOrder"},
            id="nutrition-order-with-cpt-code",
        ),
    ],
)
def test_non_service_request_not_detected(resource: dict[str, Any], knowledge: Knowledge) -> None:
    assert find_dry_needling_orders(draft_orders(resource), knowledge) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(cpt("20560", system="http://www.ama-assn.org/go/cpt-wrong"), False, id="unknown-system"),
        pytest.param(sct("20560"), False, id="snomed-system"),
        pytest.param(coding("", "20560"), False, id="blank-system"),
        pytest.param({"system": CPT}, False, id="no-code"),
    ],
)
def test_cpt_code_needs_cpt_system(code: dict[str, Any], expected: bool, knowledge: Knowledge) -> None:
    order = service_request(code, id="dn-3")
    assert bool(find_dry_needling_orders(draft_orders(order), knowledge)) is expected


def test_text_only_order_not_detected(knowledge: Knowledge) -> None:
    order = service_request(id="dn-text", text="Dry needling, right upper trapezius")
    assert find_dry_needling_orders(draft_orders(order), knowledge) == []


@pytest.mark.parametrize(
    ("selections", "expected"),
    [
        pytest.param(["ServiceRequest/dn-a"], ["ServiceRequest/dn-a"], id="select-a"),
        pytest.param(["ServiceRequest/dn-b"], ["ServiceRequest/dn-b"], id="select-b"),
        pytest.param(
            ["ServiceRequest/dn-a", "ServiceRequest/dn-b"],
            ["ServiceRequest/dn-a", "ServiceRequest/dn-b"],
            id="select-both",
        ),
        pytest.param(["ServiceRequest/acu-c"], [], id="select-acupuncture-only"),
        pytest.param(["MedicationRequest/rx-d"], [], id="select-medication-only"),
        pytest.param(
            ["https://ehr.example.org/fhir/ServiceRequest/dn-a"], [], id="fullurl-is-not-a-selection"
        ),
        pytest.param(["MedicationRequest/dn-a"], [], id="wrong-type-same-id"),
        pytest.param([], [], id="empty-selections"),
        pytest.param(None, ["ServiceRequest/dn-a", "ServiceRequest/dn-b"], id="order-sign-no-selections"),
    ],
)
def test_selections_filter_by_type_and_id(
    selections: list[str] | None, expected: list[str], knowledge: Knowledge
) -> None:
    bundle = draft_orders(
        dry_needling_order("20560", id="dn-a"),
        dry_needling_order("20561", id="dn-b"),
        service_request(cpt("97810"), id="acu-c"),
        medication_request("855332", "warfarin sodium 5 MG Oral Tablet", id="rx-d"),
    )
    found = find_dry_needling_orders(bundle, knowledge, selections=selections)
    assert [o.reference for o in found] == expected


@pytest.mark.parametrize(
    "bundle_type",
    [
        pytest.param(None, id="no-type"),
        pytest.param("collection", id="collection"),
        pytest.param("batch", id="batch"),
    ],
)
def test_bundle_type_tolerated(bundle_type: str | None, knowledge: Knowledge) -> None:
    bundle = draft_orders(dry_needling_order(id="dn-t"), bundle_type=bundle_type)
    assert [o.reference for o in find_dry_needling_orders(bundle, knowledge)] == ["ServiceRequest/dn-t"]


@pytest.mark.parametrize(
    "bundle",
    [
        pytest.param(None, id="none"),
        pytest.param({}, id="empty-object"),
        pytest.param({"resourceType": "Bundle"}, id="no-entry"),
        pytest.param(
            {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1"}, {"resource": "not an object"}]},
            id="entries-without-resources",
        ),
    ],
)
def test_malformed_draft_orders_give_no_orders(bundle: Any, knowledge: Knowledge) -> None:
    assert find_dry_needling_orders(bundle, knowledge) == []


@pytest.mark.parametrize(
    ("local_codes", "expected"),
    [
        pytest.param(
            frozenset({(LOCAL_SYSTEM, "PT-DN-01")}), ["ServiceRequest/dn-local"], id="configured-local-code"
        ),
        pytest.param(frozenset({(LOCAL_SYSTEM, "PT-DN-99")}), [], id="other-local-code"),
        pytest.param(
            frozenset({("https://other.example.org/cs", "PT-DN-01")}), [], id="same-code-other-system"
        ),
        pytest.param(frozenset(), [], id="none-configured"),
    ],
)
def test_local_codes(
    local_codes: frozenset[tuple[str, str]], expected: list[str], knowledge: Knowledge
) -> None:
    order = service_request(coding(LOCAL_SYSTEM, "PT-DN-01", "Dry needling"), id="dn-local")
    found = find_dry_needling_orders(draft_orders(order), knowledge, local_codes=local_codes)
    assert [o.reference for o in found] == expected


@pytest.mark.parametrize(
    ("sites", "regions_known"),
    [
        pytest.param(
            [body_site(sct("16982005", "Shoulder region structure"), text="Right shoulder")],
            True,
            id="coded-site",
        ),
        pytest.param([body_site(text="Right upper trapezius")], True, id="text-site"),
        pytest.param([body_site(text="Area of pain")], False, id="unrecognised-text"),
        pytest.param([], False, id="no-body-site"),
    ],
)
def test_order_site_known(sites: list[dict[str, Any]], regions_known: bool, knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-s", body_sites=sites)
    [found] = find_dry_needling_orders(draft_orders(order), knowledge)
    assert (bool(found.body_sites) and all(site.known for site in found.body_sites)) is regions_known
    assert len(found.body_sites) == len(sites)


def test_every_evaluated_order_gets_a_risk_disclosure(knowledge: Knowledge) -> None:
    bundle = draft_orders(
        dry_needling_order("20560", id="dn-a"),
        service_request(cpt("97810"), id="acu-b"),
        dry_needling_order("20561", id="dn-c"),
    )
    orders = find_dry_needling_orders(bundle, knowledge)
    findings = evaluate_orders(orders, patient_record(), knowledge, TODAY)
    assert [(f.code, f.order_references) for f in findings if f.code == "risk-disclosure"] == [
        ("risk-disclosure", ("ServiceRequest/dn-a",)),
        ("risk-disclosure", ("ServiceRequest/dn-c",)),
    ]
    assert [(f.code, f.order_references) for f in findings if f.kind == "indication"] == [
        ("no-indication-found", ("ServiceRequest/dn-a",)),
        ("no-indication-found", ("ServiceRequest/dn-c",)),
    ]


def test_order_without_id_is_still_evaluated_on_sign(knowledge: Knowledge) -> None:
    """An id-less dry-needling order must not vanish: it is evaluated, but cannot be a suggestion target."""
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {**dry_needling_order(), "id": None}}]}

    found = find_dry_needling_orders(bundle, knowledge)

    assert [(o.reference, o.has_id) for o in found] == [("ServiceRequest (draft order 1, no id)", False)]
    assert find_dry_needling_orders(bundle, knowledge, selections=["ServiceRequest/x"]) == []


def test_numeric_id_and_single_coding_object_are_tolerated(knowledge: Knowledge) -> None:
    order = {**dry_needling_order(), "id": 5}
    order["code"] = {"coding": {"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}}

    found = find_dry_needling_orders(draft_orders(order), knowledge)

    assert [o.reference for o in found] == ["ServiceRequest/5"]


def test_look_alike_procedure_codes_are_never_dry_needling(knowledge: Knowledge) -> None:
    """Every code in the documented not-dry-needling set (acupuncture, trigger-point injection) is refused."""
    look_alikes = knowledge.value_set("not-dry-needling-order").exact_codes
    assert len(look_alikes) == 6
    for system, code in look_alikes:
        order = service_request({"system": system, "code": code}, id=f"sr-{code}")
        assert find_dry_needling_orders(draft_orders(order), knowledge) == [], code
