"""Edges of the issue-11/12 rule modules that no vignette varies: how deep panels of panels are read, which
``hasMember`` references are fetched, which finding carries the lung advice in the risk disclosure, and which
bleeding-risk condition is taken for thrombocytopenia. Each test fires on one side of its edge and not on the
other (``scripts/mutate.py`` flips these comparisons and shifts these depths)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from support.builders import (
    PATIENT_ID,
    Json,
    concept,
    condition,
    draft_orders,
    dry_needling_order,
    fhir_datetime,
    icd,
    icd_condition,
    lab_result,
    loinc,
    patient_record,
    text_only,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders
from fhir_mappings.findings import Finding
from fhir_mappings.panels import unresolved_members

INR_LOINC = "6301-6"


def _nested_inr(levels: int) -> Json:
    """An INR of 5.0 reached through ``levels`` contained ``hasMember`` steps from a panel Observation."""
    inner: Json = lab_result(INR_LOINC, 5.0, "{INR}", effective=TODAY, id="inr")
    for level in range(levels, 0, -1):
        inner = {
            "resourceType": "Observation",
            "id": f"panel-{level}",
            "status": "final",
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "code": concept(loinc("34714-6", "INR panel")),
            "effectiveDateTime": fhir_datetime(TODAY),
            "contained": [{**inner, "id": f"m{level}"}],
            "hasMember": [{"reference": f"#m{level}"}],
        }
        if level > 1:
            inner.pop("subject")
    return inner


@pytest.mark.parametrize(("levels", "read"), [(1, True), (3, True), (4, False)])
def test_panels_of_panels_are_read_three_levels_deep(levels: int, read: bool, knowledge: Knowledge) -> None:
    record = patient_record(_nested_inr(levels))
    codes = {f.code for f in evaluate_patient(record, knowledge, TODAY)}
    assert ("inr-critical" in codes) is read


def test_only_observation_members_not_held_are_fetched() -> None:
    held = lab_result(INR_LOINC, 1.1, "{INR}", effective=TODAY, id="held")
    panel = {
        "resourceType": "Observation",
        "id": "coag",
        "status": "final",
        "code": concept(loinc("34714-6", "INR panel")),
        "hasMember": [
            {"reference": "Observation/held"},
            {"reference": "Observation/platelets"},
            {"reference": "DiagnosticReport/cbc"},
            {"reference": "#local"},
        ],
    }
    assert unresolved_members(patient_record(panel, held)) == ["Observation/platelets"]


def _disclosure(knowledge: Knowledge, site_text: str) -> Finding:
    order = dry_needling_order(id="dn-1")
    order["bodySite"] = [text_only(site_text)]
    [parsed] = find_dry_needling_orders(draft_orders(order), knowledge)
    findings = evaluate_orders([parsed], patient_record(), knowledge, TODAY)
    [disclosure] = [f for f in findings if f.code == "risk-disclosure"]
    return disclosure


def test_the_lung_advice_follows_a_lung_site_not_another_site_risk(knowledge: Knowledge) -> None:
    chest = _disclosure(knowledge, "Left chest wall")
    assert "pneumothorax-risk-site" in chest.site_risks and "lung_site" in chest.facts
    abdomen = _disclosure(knowledge, "Abdomen")
    assert abdomen.site_risks == ("organ-risk-site",)
    assert "lung_site" not in abdomen.facts


def _bleeding_facts(knowledge: Knowledge, *resources: Any) -> dict[str, str]:
    findings = evaluate_patient(patient_record(*resources), knowledge, TODAY)
    [finding] = [f for f in findings if f.code == "bleeding-risk-condition"]
    return dict(finding.facts)


def test_purpura_beside_a_resolved_thrombocytopenia_asks_for_no_platelet_count(knowledge: Knowledge) -> None:
    resolved = icd_condition("D69.6", "Thrombocytopenia, unspecified", id="old", clinical_status="resolved")
    purpura = icd_condition("D69.2", "Other nonthrombocytopenic purpura", id="purpura")
    facts = _bleeding_facts(knowledge, resolved, purpura)
    assert "platelets" not in facts
    active = icd_condition("D69.6", "Thrombocytopenia, unspecified", id="now")
    assert "platelets" in _bleeding_facts(knowledge, active)


def _order_codes(knowledge: Knowledge, order: Json, *resources: Any) -> set[str]:
    [parsed] = find_dry_needling_orders(draft_orders(order), knowledge)
    return {f.code for f in evaluate_orders([parsed], patient_record(*resources), knowledge, TODAY)}


@pytest.mark.parametrize(("target", "fires"), [("#reason", True), ("#other", False)])
def test_an_order_reason_is_read_only_from_the_contained_condition_it_names(
    target: str, fires: bool, knowledge: Knowledge
) -> None:
    order = dry_needling_order(id="dn-1")
    order["contained"] = [
        {
            "resourceType": "Condition",
            "id": "reason",
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "code": concept(icd("G83.4", "Cauda equina syndrome")),
        }
    ]
    order["reasonReference"] = [{"reference": target}]
    assert ("red-flag-condition" in _order_codes(knowledge, order)) is fires


@pytest.mark.parametrize(("site_text", "fires"), [("Right knee", True), ("Left shoulder", False)])
def test_a_knee_prosthesis_is_placed_by_its_icd_site_digits(
    site_text: str, fires: bool, knowledge: Knowledge
) -> None:
    prosthesis = icd_condition("Z96.651", None, id="knee")
    order = dry_needling_order(id="dn-1")
    order["bodySite"] = [text_only(site_text)]
    assert ("prosthetic-joint-near-site" in _order_codes(knowledge, order, prosthesis)) is fires


def test_an_unplaced_site_tied_with_a_placed_one_names_every_order_site(knowledge: Knowledge) -> None:
    """Lymphedema of an arm of unknown side: the unplaced site and the left forearm are equally uncertain, so
    the warning names both order sites, not only the one it could place (the first closest site is kept)."""
    lymphedema = condition(concept(icd("I89.0", "Lymphedema")), id="l", body_sites=[text_only("Arm")])
    order = dry_needling_order(id="dn-1")
    order["bodySite"] = [text_only("Trigger point 3"), text_only("L forearm")]
    [parsed] = find_dry_needling_orders(draft_orders(order), knowledge)
    findings = evaluate_orders([parsed], patient_record(lymphedema), knowledge, TODAY)
    [finding] = [f for f in findings if f.code == "lymphedema-limb"]
    assert finding.facts["order_site"] == "Trigger point 3; left arm"
    assert "side" in finding.facts


def test_an_allergy_rule_with_words_only_still_reads_allergy_words(knowledge: Knowledge) -> None:
    """An allergy rule with words and no value set (the early exit is only for a rule with neither)."""
    rules = tuple(
        dataclasses.replace(rule, allergy_value_sets=()) if rule.code == "metal-allergy" else rule
        for rule in knowledge.precautions.patient
    )
    words_only = dataclasses.replace(
        knowledge, precautions=dataclasses.replace(knowledge.precautions, patient=rules)
    )
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "al",
        "code": text_only("Nickel allergy"),
        "patient": {"reference": f"Patient/{PATIENT_ID}"},
    }
    codes = {f.code for f in evaluate_patient(patient_record(allergy), words_only, TODAY)}
    assert "metal-allergy" in codes
    assert "metal-allergy" not in {f.code for f in evaluate_patient(patient_record(), words_only, TODAY)}
