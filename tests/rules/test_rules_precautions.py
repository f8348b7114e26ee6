"""Issue 12 rules at the function level: policy switches and coding variants the vignettes do not vary
(aspirin alone as information or warning, class-only Z79 codes, purpura by policy, text-only conditions,
patient-view wording without an order, the side of a lymphedema, and the knowledge page listing the codes)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from support.builders import (
    concept,
    condition,
    draft_orders,
    dry_needling_order,
    icd,
    icd_condition,
    medication,
    patient_record,
    rxnorm,
    text_only,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders
from fhir_mappings.findings import Finding, FindingKind


def _order_findings(knowledge: Knowledge, *resources: Any, body_site: Any = None) -> list[Finding]:
    order = dry_needling_order(id="dn-1")
    if body_site is not None:
        order["bodySite"] = [body_site]
    [parsed] = find_dry_needling_orders(draft_orders(order), knowledge)
    return evaluate_orders([parsed], patient_record(*resources), knowledge, TODAY)


def _codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def _aspirin() -> Any:
    return medication(concept(rxnorm("243670", "aspirin 81 MG Oral Tablet")), id="asa")


def test_aspirin_alone_is_information_by_default(knowledge: Knowledge) -> None:
    [finding] = [f for f in _order_findings(knowledge, _aspirin()) if f.code == "antithrombotic-therapy"]
    assert finding.kind is FindingKind.NOTICE
    assert "low_risk_drug" in finding.facts


def test_aspirin_alone_is_a_warning_when_the_site_lists_no_info_only_ingredient(knowledge: Knowledge) -> None:
    strict = dataclasses.replace(
        knowledge,
        policy=dataclasses.replace(knowledge.policy, antithrombotic_info_only_ingredients=frozenset()),
    )
    [finding] = [f for f in _order_findings(strict, _aspirin()) if f.code == "antithrombotic-therapy"]
    assert finding.kind is FindingKind.PRECAUTION


def test_an_anticoagulant_code_with_aspirin_is_combined_therapy(knowledge: Knowledge) -> None:
    z79 = icd_condition("Z79.01", "Long term (current) use of anticoagulants", id="z")
    codes = _codes(_order_findings(knowledge, z79, _aspirin()))
    assert "combined-antithrombotic-therapy" in codes and "antithrombotic-therapy" not in codes


def test_the_anticoagulant_code_with_warfarin_is_one_drug(knowledge: Knowledge) -> None:
    z79 = icd_condition("Z79.01", "Long term (current) use of anticoagulants", id="z")
    warfarin = medication(concept(rxnorm("855332", "warfarin sodium 5 MG Oral Tablet")), id="w")
    codes = _codes(_order_findings(knowledge, z79, warfarin))
    assert "antithrombotic-therapy" in codes and "combined-antithrombotic-therapy" not in codes
    assert "inr-not-recent" in codes  # no INR at all


@pytest.mark.parametrize(("code", "fires"), [("D69.0", True), ("D69.2", True), ("D69.3", False)])
def test_purpura_is_a_bleeding_precaution_not_a_contraindication(
    knowledge: Knowledge, code: str, fires: bool
) -> None:
    codes = _codes(_order_findings(knowledge, icd_condition(code, id="p")))
    assert ("bleeding-risk-condition" in codes) is fires
    assert ("bleeding-disorder" in codes) is (code == "D69.3")  # immune thrombocytopenic purpura stays


def test_purpura_is_silent_when_the_site_policy_drops_it(knowledge: Knowledge) -> None:
    quiet = dataclasses.replace(
        knowledge, policy=dataclasses.replace(knowledge.policy, bleeding_precaution_conditions=frozenset())
    )
    assert "bleeding-risk-condition" not in _codes(_order_findings(quiet, icd_condition("D69.2", id="p")))


def test_text_only_thrombocytopenia_defers_to_the_count_like_its_code(knowledge: Knowledge) -> None:
    findings = _order_findings(knowledge, condition(text_only("Thrombocytopenia"), id="t"))
    [finding] = [f for f in findings if f.code == "bleeding-risk-condition"]
    assert "matched by the name" in finding.evidence[0].description
    assert "bleeding-disorder" not in _codes(findings)


def test_text_only_pacemaker_and_negated_text(knowledge: Knowledge) -> None:
    assert "implanted-electronic-device" in _codes(
        _order_findings(knowledge, condition(text_only("Pacemaker in situ"), id="d"))
    )
    assert "implanted-electronic-device" not in _codes(
        _order_findings(knowledge, condition(text_only("History of pacemaker removal"), id="d"))
    )


def test_lymphedema_on_patient_view_is_a_warning_without_order_words(knowledge: Knowledge) -> None:
    lymphedema = condition(concept(icd("I89.0", "Lymphedema")), id="l", body_sites=[text_only("Left arm")])
    [finding] = [
        f
        for f in evaluate_patient(patient_record(lymphedema), knowledge, TODAY)
        if f.code == "lymphedema-limb"
    ]
    assert finding.kind is FindingKind.PRECAUTION
    assert finding.order_references == ()
    assert finding.facts["condition_site"] == "left arm"
    assert "order_site" not in finding.facts


def test_lymphedema_on_the_same_limb_and_side_is_critical(knowledge: Knowledge) -> None:
    lymphedema = condition(concept(icd("I89.0", "Lymphedema")), id="l", body_sites=[text_only("Left arm")])
    findings = _order_findings(knowledge, lymphedema, body_site=text_only("L forearm"))
    [finding] = [f for f in findings if f.code == "lymphedema-limb"]
    assert finding.kind is FindingKind.CONTRAINDICATION
    right = _order_findings(knowledge, lymphedema, body_site=text_only("R forearm"))
    assert "lymphedema-limb" not in _codes(right)


def test_an_unplaced_site_is_said_and_keeps_the_lung_advice(knowledge: Knowledge) -> None:
    findings = _order_findings(knowledge, body_site=text_only("Trigger point 3"))
    assert "body-site-unrecognised" in _codes(findings)
    [disclosure] = [f for f in findings if f.code == "risk-disclosure"]
    assert "lung_site" in disclosure.facts and "unplaced-site" in disclosure.site_risks
    ankle = _order_findings(knowledge, body_site=text_only("Right ankle"))
    [disclosure] = [f for f in ankle if f.code == "risk-disclosure"]
    assert "lung_site" not in disclosure.facts and disclosure.site_risks == ()


def test_red_flag_codes_are_no_longer_indications(knowledge: Knowledge) -> None:
    for code in ("M47.12", "M50.00", "G95.20", "G83.4", "M47.011", "G43.609", "G43.A0", "G43.D0"):
        assert not any(
            knowledge.value_set(f"indication-{key}").contains(
                "http://hl7.org/fhir/sid/icd-10-cm", code.replace(".", "")
            )
            for key in knowledge.indication_keys()
        ), code


def test_the_knowledge_page_lists_every_new_finding() -> None:
    from cds_service.knowledge_report import build_report, gather_sources, render

    page = render(build_report(gather_sources()), "markdown")
    for code in (
        "lymphedema-limb",
        "combined-antithrombotic-therapy",
        "body-site-unrecognised",
        "inr-not-recent",
    ):
        assert f"{code} (" in page
    assert "inr_max_age_days_on_vka" in page and "precautions.json" in page


def _knee_replacement(status: str = "completed") -> Any:
    return {
        "resourceType": "Procedure",
        "id": "tkr",
        "status": status,
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "443681002",
                    "display": "Total replacement of left knee joint",
                }
            ]
        },
        "subject": {"reference": "Patient/pat-8841"},
        "performedDateTime": "2024-03-01",
    }


@pytest.mark.parametrize(
    ("site", "status", "fires"),
    [
        pytest.param("Left quadriceps", "completed", True, id="same-side"),
        pytest.param("Right quadriceps", "completed", False, id="other-side"),
        pytest.param("Left quadriceps", "not-done", False, id="not-done"),
    ],
)
def test_a_knee_replacement_procedure_places_the_prosthesis(
    knowledge: Knowledge, site: str, status: str, fires: bool
) -> None:
    """Joint and side come from the SNOMED CT display words ("Total replacement of left knee joint", VSAC)."""
    findings = _order_findings(knowledge, _knee_replacement(status), body_site=text_only(site))
    assert ("prosthetic-joint-near-site" in _codes(findings)) is fires


def _allergy(clinical: str, coding: Any) -> Any:
    return {
        "resourceType": "AllergyIntolerance",
        "id": "al",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": clinical,
                }
            ]
        },
        "code": {"coding": [coding]},
        "patient": {"reference": "Patient/pat-8841"},
    }


@pytest.mark.parametrize(
    ("clinical", "coding", "fires"),
    [
        pytest.param(
            "active",
            {"system": "http://snomed.info/sct", "code": "91953007", "display": "Allergy to nickel"},
            True,
            id="snomed-nickel",
        ),
        pytest.param(
            "active",
            {"system": "urn:oid:1.2.3", "code": "x", "display": "CHROMIUM (SUBSTANCE)"},
            True,
            id="local-code-chromium-words",
        ),
        pytest.param(
            "inactive",
            {"system": "http://snomed.info/sct", "code": "91953007", "display": "Allergy to nickel"},
            False,
            id="inactive",
        ),
        pytest.param(
            "active",
            {"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"},
            False,
            id="penicillin",
        ),
    ],
)
def test_metal_allergy_from_allergy_intolerance(
    knowledge: Knowledge, clinical: str, coding: Any, fires: bool
) -> None:
    record = patient_record(_allergy(clinical, coding))
    assert ("metal-allergy" in _codes(evaluate_patient(record, knowledge, TODAY))) is fires
