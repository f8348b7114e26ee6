"""Bleeding-disorder contraindication (clinical-knowledge.md 2b): thrombophilia is not a bleeding disorder."""

from __future__ import annotations

from typing import Any

import pytest
from fhir_builders import (
    ICD10CM_OID,
    NOW,
    Json,
    concept,
    condition,
    days_ago,
    draft_orders,
    dry_needling_order,
    icd,
    patient_record,
    sct,
)

from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders
from fhir_mappings.bleeding import find_bleeding_disorders


@pytest.mark.parametrize(
    ("code", "fires"),
    [
        (icd("D66", "Hereditary factor VIII deficiency"), True),
        (icd("D67", "Hereditary factor IX deficiency"), True),
        (icd("D68.00", "Von Willebrand disease, unspecified"), True),
        (icd("D6800", "Von Willebrand disease, unspecified"), True),
        (icd("d68.00", "Von Willebrand disease, unspecified"), True),
        (icd("D68.311", "Acquired hemophilia"), True),
        (icd("D68.32", "Hemorrhagic disorder due to extrinsic circulating anticoagulants"), True),
        (icd("D69.3", "Immune thrombocytopenic purpura"), True),
        # review 2026-12: thrombocytopenia defers to the platelet count; HIT is no bleeding disorder
        (icd("D69.6", "Thrombocytopenia, unspecified"), False),
        (icd("D75.821", "Non-immune heparin-induced thrombocytopenia"), False),
        (icd("D69.6", system=ICD10CM_OID), False),
        (sct("28293008", "Hereditary factor VIII deficiency disease"), True),
        (sct("1563006", "Hereditary factor IX deficiency disease"), True),
        (sct("128105004", "Von Willebrand disorder"), True),
        (sct("64779008", "Blood coagulation disorder"), True),
        (sct("302215000", "Thrombocytopenic disorder"), False),
        (icd("D68.51", "Activated protein C resistance"), False),
        (icd("D68.52", "Prothrombin gene mutation"), False),
        (icd("D68.59", "Other primary thrombophilia"), False),
        (icd("D68.61", "Antiphospholipid syndrome"), False),
        (icd("D68.62", "Lupus anticoagulant syndrome"), False),
        (icd("D68.69", "Other thrombophilia"), False),
        (icd("D6861"), False),
        (icd("D64.9", "Anemia, unspecified"), False),
        (icd("Z79.01", "Long term (current) use of anticoagulants"), False),
        (sct("D66"), False),
        (icd("28293008"), False),
    ],
    ids=[
        "d66-hemophilia-a",
        "d67-hemophilia-b",
        "d68-00-von-willebrand",
        "d6800-undotted",
        "d68-00-lower-case",
        "d68-311-acquired-hemophilia",
        "d68-32-drug-induced",
        "d69-3-itp",
        "d69-6-thrombocytopenia",
        "d75-821-hit",
        "d69-6-via-oid",
        "sct-28293008-hemophilia-a",
        "sct-1563006-hemophilia-b",
        "sct-128105004-von-willebrand",
        "sct-64779008-coagulation-disorder",
        "sct-302215000-thrombocytopenic-disorder",
        "d68-51-factor-v-leiden-thrombophilia",
        "d68-52-prothrombin-mutation",
        "d68-59-primary-thrombophilia",
        "d68-61-antiphospholipid",
        "d68-62-lupus-anticoagulant",
        "d68-69-other-thrombophilia",
        "d6861-undotted-thrombophilia",
        "d64-9-anemia",
        "z79-01-anticoagulant-use-is-not-a-disorder",
        "icd-code-under-snomed-system",
        "snomed-code-under-icd-system",
    ],
)
def test_bleeding_disorder_codes(code: Json, fires: bool, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="bd-1", onset=days_ago(900)))
    found = find_bleeding_disorders(record, knowledge, NOW)
    assert bool(found) is fires
    if fires:
        assert [e.reference for e in found] == ["Condition/bd-1"]
        assert found[0].recorded == days_ago(900)


@pytest.mark.parametrize(
    ("kwargs", "fires"),
    [
        ({}, True),
        ({"clinical_status": None}, True),
        ({"clinical_status": "resolved", "abatement": days_ago(100)}, False),
        ({"clinical_status": "inactive"}, False),
        ({"verification_status": "entered-in-error"}, False),
        ({"verification_status": "refuted"}, False),
        ({"clinical_status": None, "abatement": days_ago(1)}, False),
    ],
    ids=["active", "no-clinical-status", "resolved", "inactive", "entered-in-error", "refuted", "abated"],
)
def test_bleeding_disorder_status(kwargs: dict[str, Any], fires: bool, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd("D66", "Hereditary factor VIII deficiency")), **kwargs))
    assert bool(find_bleeding_disorders(record, knowledge, NOW)) is fires


def test_thrombophilia_and_bleeding_disorder_together(knowledge: Knowledge) -> None:
    record = patient_record(
        condition(concept(icd("D68.51", "Activated protein C resistance")), id="fvl"),
        condition(concept(icd("D68.00", "Von Willebrand disease, unspecified")), id="vwd"),
    )
    assert [e.reference for e in find_bleeding_disorders(record, knowledge, NOW)] == ["Condition/vwd"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (icd("D66", "Hereditary factor VIII deficiency"), ["bleeding-disorder"]),
        (icd("D68.61", "Antiphospholipid syndrome"), []),
    ],
    ids=["hemophilia-fires", "antiphospholipid-does-not"],
)
def test_bleeding_finding_through_evaluate(code: Json, expected: list[str], knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="bd-2"))
    [order] = find_dry_needling_orders(draft_orders(dry_needling_order(id="dn-1")), knowledge)
    for findings, references in (
        (evaluate_orders([order], record, knowledge, NOW), ("ServiceRequest/dn-1",)),
        (evaluate_patient(record, knowledge, NOW), ()),
    ):
        bleeding = [f for f in findings if f.code == "bleeding-disorder"]
        assert [f.code for f in bleeding] == expected
        for finding in bleeding:
            assert finding.kind == "contraindication"
            assert finding.order_references == references
            assert [e.reference for e in finding.evidence] == ["Condition/bd-2"]
