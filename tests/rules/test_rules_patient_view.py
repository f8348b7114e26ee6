"""patient-view: indications and contraindications on file, without an order and without risk disclosure."""

from __future__ import annotations

import pytest
from support.builders import (
    NOT_PREGNANT_SCT,
    PREGNANT_SCT,
    Json,
    body_site,
    concept,
    condition,
    days_ago,
    days_ahead,
    draft_orders,
    dry_needling_order,
    estimated_due_date,
    icd,
    icd_condition,
    patient_record,
    pregnancy_status,
    sct,
    text_only,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders


def _codes(knowledge: Knowledge, *resources: Json) -> list[str]:
    return [f.code for f in evaluate_patient(patient_record(*resources), knowledge, TODAY)]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param([], ["no-indication-found"], id="empty-record"),
        pytest.param([icd_condition("M54.2", "Cervicalgia")], ["indication-found"], id="indication"),
        pytest.param(
            [icd_condition("M54.2", "Cervicalgia", clinical_status="resolved")],
            ["no-indication-found"],
            id="resolved-indication",
        ),
        pytest.param(
            [estimated_due_date(days_ahead(280 - 65), days_ago(3))],
            ["pregnancy-first-trimester", "no-indication-found"],
            id="first-trimester",
        ),
        pytest.param(
            [estimated_due_date(days_ahead(100), days_ago(3)), icd_condition("M54.50", "Low back pain")],
            ["pregnancy-later-trimester", "indication-found"],
            id="later-trimester-with-indication",
        ),
        pytest.param(
            [pregnancy_status(PREGNANT_SCT, days_ago(40)), pregnancy_status(NOT_PREGNANT_SCT, days_ago(2))],
            ["no-indication-found"],
            id="not-pregnant-any-more",
        ),
        pytest.param(
            [icd_condition("D66", "Hereditary factor VIII deficiency")],
            ["bleeding-disorder", "no-indication-found"],
            id="bleeding-disorder",
        ),
        pytest.param(
            [icd_condition("D68.51", "Activated protein C resistance")],
            ["no-indication-found"],
            id="thrombophilia-only",
        ),
        pytest.param(
            [icd_condition("L03.115", "Cellulitis of right lower limb")],
            ["infection-near-site", "no-indication-found"],
            id="infection",
        ),
        pytest.param(
            [icd_condition("L03.115", "Cellulitis of right lower limb", clinical_status="resolved")],
            ["no-indication-found"],
            id="resolved-infection",
        ),
        pytest.param(
            [
                icd_condition("Z33.1", "Pregnant state, incidental", onset=days_ago(20)),
                icd_condition("D66", "Hereditary factor VIII deficiency"),
                condition(
                    concept(sct("128045006", "Cellulitis")), body_sites=[body_site(text="Left forearm")]
                ),
                icd_condition("M79.7", "Fibromyalgia"),
                icd_condition("G56.01", "Carpal tunnel syndrome, right upper limb"),
            ],
            [
                "pregnancy-first-trimester",
                "bleeding-disorder",
                "infection-near-site",
                "indication-found",
            ],
            id="everything",
        ),
    ],
)
def test_patient_view_findings(resources: list[Json], expected: list[str], knowledge: Knowledge) -> None:
    findings = evaluate_patient(patient_record(*resources), knowledge, TODAY)
    assert [f.code for f in findings] == expected
    assert all(f.order_references == () for f in findings)
    assert "risk-disclosure" not in [f.code for f in findings]


def test_patient_view_lists_every_indication(knowledge: Knowledge) -> None:
    findings = evaluate_patient(
        patient_record(
            icd_condition("M79.7", "Fibromyalgia", id="fm"),
            condition(concept(icd("G56.01"), sct("57406009", "Carpal tunnel syndrome")), id="cts"),
            condition(text_only("Chronic neck pain"), id="txt"),
        ),
        knowledge,
        TODAY,
    )
    [indication] = [f for f in findings if f.code == "indication-found"]
    assert indication.kind == "indication"
    assert [(m.key, m.code, m.origin, m.reference) for m in indication.indications] == [
        ("fibromyalgia", "M79.7", "problem list", "Condition/fm"),
        ("carpal-tunnel", "G56.01", "problem list", "Condition/cts"),  # once, not once per coding
    ]
    assert indication.unrecognised == ("problem 'Chronic neck pain' (no code)",)


def test_patient_view_infection_finding_needs_no_order(knowledge: Knowledge) -> None:
    [finding] = [
        f
        for f in evaluate_patient(
            patient_record(icd_condition("L03.116", "Cellulitis of left lower limb", id="inf-1")),
            knowledge,
            TODAY,
        )
        if f.code == "infection-near-site"
    ]
    assert finding.kind == "precaution"
    assert [e.reference for e in finding.evidence] == ["Condition/inf-1"]
    assert finding.facts["infection"] == "Cellulitis of left lower limb"
    assert finding.facts["infection_site"]


def test_patient_view_contraindications_match_order_hooks(knowledge: Knowledge) -> None:
    """The patient-level findings are the same on patient-view as on an order hook, minus the order."""
    record = patient_record(
        estimated_due_date(days_ahead(280 - 65), days_ago(3), id="edd"),
        icd_condition("D66", "Hereditary factor VIII deficiency", id="hemo"),
    )
    on_file = [(f.code, f.facts, f.evidence) for f in evaluate_patient(record, knowledge, TODAY)][:2]
    orders = find_dry_needling_orders(draft_orders(dry_needling_order(id="dn-1")), knowledge)
    on_order = [(f.code, f.facts, f.evidence) for f in evaluate_orders(orders, record, knowledge, TODAY)][:2]
    assert on_file == on_order
    assert [code for code, _, _ in on_file] == ["pregnancy-first-trimester", "bleeding-disorder"]
