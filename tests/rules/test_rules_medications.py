"""Antithrombotic therapy precaution (architecture.md section 4; clinical-knowledge.md 2b): RxNorm
ingredient and clinical-drug codes, Z79.01/Z79.02/Z79.82, names in text as a flagged fallback, statuses."""

from __future__ import annotations

import dataclasses

import pytest
from support.builders import (
    Json,
    concept,
    condition,
    days_ago,
    draft_orders,
    dry_needling_order,
    icd,
    medication,
    patient_record,
    rxnorm,
    text_only,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders
from fhir_mappings.medications import find_antithrombotic_therapy


@pytest.mark.parametrize(
    ("code", "display", "drug"),
    [
        ("11289", "warfarin", "warfarin"),
        ("855332", "warfarin sodium 5 MG Oral Tablet", "warfarin"),
        ("1364445", "apixaban 5 MG Oral Tablet", "apixaban"),
        ("1364430", "apixaban", "apixaban"),
        ("1232086", "rivaroxaban 20 MG Oral Tablet", "rivaroxaban"),
        ("1037045", "dabigatran etexilate 150 MG Oral Capsule", "dabigatran"),
        ("1599555", "edoxaban 60 MG Oral Tablet", "edoxaban"),
        ("854235", "0.4 ML enoxaparin sodium 100 MG/ML Prefilled Syringe", "enoxaparin"),
        ("1361615", "heparin sodium, porcine 5000 UNT/ML Injectable Solution", "heparin"),
        ("978740", "0.5 ML dalteparin sodium 25000 UNT/ML Prefilled Syringe", "dalteparin"),
        ("861360", "0.5 ML fondaparinux sodium 5 MG/ML Prefilled Syringe", "fondaparinux"),
        ("309362", "clopidogrel 75 MG Oral Tablet", "clopidogrel"),
        ("32968", "clopidogrel", "clopidogrel"),
        ("855812", "prasugrel 10 MG Oral Tablet", "prasugrel"),
        ("1116635", "ticagrelor 90 MG Oral Tablet", "ticagrelor"),
        ("243670", "aspirin 81 MG Oral Tablet", "aspirin"),
    ],
)
def test_rxnorm_codes_are_matched_by_code(code: str, display: str, drug: str, knowledge: Knowledge) -> None:
    # the coding has no display and the text names no drug: only the code can match
    record = patient_record(medication(concept(rxnorm(code)), id="m-1"))
    [use] = find_antithrombotic_therapy(record, knowledge, TODAY)
    assert (use.drug, use.matched_by, use.evidence.reference) == (drug, "code", "MedicationRequest/m-1")


@pytest.mark.parametrize(
    "medication_concept",
    [
        pytest.param(concept(rxnorm("197361", "amlodipine 5 MG Oral Tablet")), id="amlodipine"),
        pytest.param(concept(rxnorm("161", "acetaminophen")), id="acetaminophen"),
        pytest.param(text_only("Paracetamol 1 g as needed"), id="paracetamol-text"),
        pytest.param(text_only("Omega-3 fish oil"), id="fish-oil-text"),
        pytest.param(
            concept(coding_ := {"system": "http://example.org/local-drugs", "code": "11289"}),
            id="rxnorm-code-other-system",
        ),  # RxNorm code, wrong system
        pytest.param(
            text_only("Aspirinate? no: heparinoid cream"), id="partial-words"
        ),  # no whole-word drug name
    ],
)
def test_other_medications_do_not_count(medication_concept: Json, knowledge: Knowledge) -> None:
    assert find_antithrombotic_therapy(patient_record(medication(medication_concept)), knowledge, TODAY) == []


@pytest.mark.parametrize(
    ("medication_concept", "drug", "word"),
    [
        (text_only("Coumadin 5 mg daily"), "warfarin", "Coumadin"),
        (text_only("ELIQUIS 5MG TAB"), "apixaban", "ELIQUIS"),
        (text_only("Xarelto 20 mg with evening meal"), "rivaroxaban", "Xarelto"),
        (text_only("ASA 81 mg daily"), "aspirin", "ASA"),
        (text_only("Lovenox 40 mg SC daily"), "enoxaparin", "Lovenox"),
        (concept(rxnorm("999999", "Brilinta 90 MG Oral Tablet")), "ticagrelor", "Brilinta"),  # unknown code
    ],
)
def test_names_in_text_are_matched_and_flagged(
    medication_concept: Json, drug: str, word: str, knowledge: Knowledge
) -> None:
    [use] = find_antithrombotic_therapy(patient_record(medication(medication_concept)), knowledge, TODAY)
    assert (use.drug, use.matched_by) == (drug, "name")
    assert f"matched by the name '{word}', not by a code" in use.evidence.description


def test_a_contained_medication_and_a_reference_display_are_read(knowledge: Knowledge) -> None:
    contained = medication(
        None,
        id="m-c",
        medicationReference={"reference": "#med"},
        contained=[{"resourceType": "Medication", "id": "med", "code": concept(rxnorm("1364445"))}],
    )
    displayed = medication(
        None, id="m-d", medicationReference={"reference": "Medication/77", "display": "Plavix"}
    )
    uses = find_antithrombotic_therapy(patient_record(contained, displayed), knowledge, TODAY)
    assert [(u.evidence.reference, u.drug, u.matched_by) for u in uses] == [
        ("MedicationRequest/m-c", "apixaban", "code"),
        ("MedicationRequest/m-d", "clopidogrel", "name"),
    ]


def test_a_referenced_medication_sent_alongside_is_resolved(knowledge: Knowledge) -> None:
    """Epic-style MedicationRequest.medicationReference to a Medication the EHR included in the Bundle."""
    referenced = medication(None, id="m-r", medicationReference={"reference": "Medication/e7Xq"})
    included = {"resourceType": "Medication", "id": "e7Xq", "code": concept(rxnorm("1232082"))}
    other = {"resourceType": "Medication", "id": "other", "code": concept(rxnorm("855332"))}
    uses = find_antithrombotic_therapy(patient_record(referenced, other, included), knowledge, TODAY)
    assert [(u.drug, u.matched_by) for u in uses] == [("rivaroxaban", "code")]
    unresolved = medication(None, medicationReference={"reference": "Medication/absent"})
    assert find_antithrombotic_therapy(patient_record(unresolved, other), knowledge, TODAY) == []


@pytest.mark.parametrize(
    ("resource_type", "status", "counts"),
    [
        ("MedicationRequest", "active", True),
        ("MedicationRequest", "on-hold", True),
        ("MedicationRequest", "unknown", True),
        ("MedicationRequest", "completed", False),
        ("MedicationRequest", "stopped", False),
        ("MedicationRequest", "cancelled", False),
        ("MedicationRequest", "entered-in-error", False),
        ("MedicationRequest", "draft", False),
        ("MedicationStatement", "active", True),
        ("MedicationStatement", "intended", True),
        ("MedicationStatement", "on-hold", True),
        ("MedicationStatement", "completed", False),
        ("MedicationStatement", "stopped", False),
        ("MedicationStatement", "not-taken", False),
        ("MedicationStatement", "entered-in-error", False),
    ],
)
def test_status_policy(resource_type: str, status: str, counts: bool, knowledge: Knowledge) -> None:
    resource = medication(concept(rxnorm("855332")), resource_type=resource_type, status=status)
    assert bool(find_antithrombotic_therapy(patient_record(resource), knowledge, TODAY)) is counts


def test_do_not_perform_order_does_not_count(knowledge: Knowledge) -> None:
    resource = medication(concept(rxnorm("855332")), doNotPerform=True)
    assert find_antithrombotic_therapy(patient_record(resource), knowledge, TODAY) == []


def test_the_status_policy_is_a_setting(knowledge: Knowledge) -> None:
    policy = dataclasses.replace(knowledge.policy, medication_request_active_statuses=frozenset({"active"}))
    narrowed = dataclasses.replace(knowledge, policy=policy)
    held = patient_record(medication(concept(rxnorm("855332")), status="on-hold"))
    assert find_antithrombotic_therapy(held, knowledge, TODAY)
    assert find_antithrombotic_therapy(held, narrowed, TODAY) == []


@pytest.mark.parametrize(
    ("code", "counts"),
    [
        pytest.param(icd("Z79.01", "Long term (current) use of anticoagulants"), True, id="z79-01"),
        pytest.param(
            icd("Z79.02", "Long term (current) use of antithrombotics/antiplatelets"), True, id="z79-02"
        ),
        pytest.param(icd("Z79.82", "Long term (current) use of aspirin"), True, id="z79-82-aspirin"),
        pytest.param(
            icd("Z79.1", "Long term (current) use of non-steroidal anti-inflammatories (NSAID)"),
            False,
            id="z79-1-nsaid",
        ),
        pytest.param(
            icd("Z86.718", "Personal history of other venous thrombosis and embolism"),
            False,
            id="z86-718-history-of-vte",
        ),
    ],
)
def test_long_term_use_codes(code: Json, counts: bool, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="z", onset=days_ago(400)))
    uses = find_antithrombotic_therapy(record, knowledge, TODAY)
    assert bool(uses) is counts
    if counts:
        assert uses[0].matched_by == "condition"


def test_a_resolved_long_term_use_code_does_not_count(knowledge: Knowledge) -> None:
    record = patient_record(
        condition(concept(icd("Z79.01")), clinical_status="resolved", abatement=days_ago(30)),
        condition(concept(icd("Z79.02")), verification_status="entered-in-error"),
    )
    assert find_antithrombotic_therapy(record, knowledge, TODAY) == []


def test_a_site_can_stop_counting_aspirin(knowledge: Knowledge) -> None:
    policy = dataclasses.replace(knowledge.policy, antithrombotic_excluded_ingredients=frozenset({"aspirin"}))
    no_aspirin = dataclasses.replace(knowledge, policy=policy)
    record = patient_record(
        medication(concept(rxnorm("243670"))),
        medication(text_only("ASA 81 mg")),
        condition(concept(icd("Z79.82"))),
    )
    assert len(find_antithrombotic_therapy(record, knowledge, TODAY)) == 3
    assert find_antithrombotic_therapy(record, no_aspirin, TODAY) == []
    clopidogrel = patient_record(medication(concept(rxnorm("309362"))))
    assert find_antithrombotic_therapy(clopidogrel, no_aspirin, TODAY)


def test_rxnorm_oid_system_is_accepted(knowledge: Knowledge) -> None:
    record = patient_record(
        medication(concept({"system": "urn:oid:2.16.840.1.113883.6.88", "code": "1364445"}))
    )
    assert find_antithrombotic_therapy(record, knowledge, TODAY)[0].drug == "apixaban"


def test_finding_through_evaluate_names_the_drugs_and_flags_names(knowledge: Knowledge) -> None:
    record = patient_record(
        medication(concept(rxnorm("855332", "warfarin sodium 5 MG Oral Tablet")), id="w"),
        medication(text_only("Baby aspirin 81 mg"), resource_type="MedicationStatement", id="a"),
    )
    [order] = find_dry_needling_orders(draft_orders(dry_needling_order(id="dn-1")), knowledge)
    for findings in (
        evaluate_orders([order], record, knowledge, TODAY),
        evaluate_patient(record, knowledge, TODAY),
    ):
        # warfarin with aspirin: combined therapy replaces the single-drug card (clinical review 2026-12)
        [finding] = [f for f in findings if f.code == "combined-antithrombotic-therapy"]
        assert not [f for f in findings if f.code == "antithrombotic-therapy"]
        assert finding.kind == "precaution"
        assert finding.facts["drugs"] == "warfarin, aspirin"
        assert "aspirin" in finding.facts["also_matched_by_name"]
        assert [e.reference for e in finding.evidence] == ["MedicationRequest/w", "MedicationStatement/a"]


def test_name_only_finding_says_so(knowledge: Knowledge) -> None:
    record = patient_record(medication(text_only("Eliquis 5 mg BID")))
    [finding] = [f for f in evaluate_patient(record, knowledge, TODAY) if f.code == "antithrombotic-therapy"]
    assert finding.facts["matched_by_name"].startswith("apixaban")
