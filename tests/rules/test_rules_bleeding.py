"""Bleeding-disorder contraindication (clinical-knowledge.md 2b): thrombophilia is not a bleeding disorder."""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    ICD10CM_OID,
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
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders
from fhir_mappings.bleeding import find_bleeding_disorders


@pytest.mark.parametrize(
    ("code", "fires"),
    [
        pytest.param(icd("D66", "Hereditary factor VIII deficiency"), True, id="d66-hemophilia-a"),
        pytest.param(icd("D67", "Hereditary factor IX deficiency"), True, id="d67-hemophilia-b"),
        pytest.param(icd("D68.00", "Von Willebrand disease, unspecified"), True, id="d68-00-von-willebrand"),
        pytest.param(icd("D6800", "Von Willebrand disease, unspecified"), True, id="d6800-undotted"),
        pytest.param(icd("d68.00", "Von Willebrand disease, unspecified"), True, id="d68-00-lower-case"),
        pytest.param(icd("D68.311", "Acquired hemophilia"), True, id="d68-311-acquired-hemophilia"),
        pytest.param(
            icd("D68.32", "Hemorrhagic disorder due to extrinsic circulating anticoagulants"),
            True,
            id="d68-32-drug-induced",
        ),
        pytest.param(icd("D69.3", "Immune thrombocytopenic purpura"), True, id="d69-3-itp"),
        # review 2026-12: thrombocytopenia defers to the platelet count; HIT is no bleeding disorder
        pytest.param(icd("D69.6", "Thrombocytopenia, unspecified"), False, id="d69-6-thrombocytopenia"),
        pytest.param(icd("D75.821", "Non-immune heparin-induced thrombocytopenia"), False, id="d75-821-hit"),
        pytest.param(icd("D69.6", system=ICD10CM_OID), False, id="d69-6-via-oid"),
        pytest.param(
            sct("28293008", "Hereditary factor VIII deficiency disease"), True, id="sct-28293008-hemophilia-a"
        ),
        pytest.param(
            sct("1563006", "Hereditary factor IX deficiency disease"), True, id="sct-1563006-hemophilia-b"
        ),
        pytest.param(sct("128105004", "Von Willebrand disorder"), True, id="sct-128105004-von-willebrand"),
        pytest.param(
            sct("64779008", "Blood coagulation disorder"), True, id="sct-64779008-coagulation-disorder"
        ),
        pytest.param(
            sct("302215000", "Thrombocytopenic disorder"), False, id="sct-302215000-thrombocytopenic-disorder"
        ),
        pytest.param(
            icd("D68.51", "Activated protein C resistance"), False, id="d68-51-factor-v-leiden-thrombophilia"
        ),
        pytest.param(icd("D68.52", "Prothrombin gene mutation"), False, id="d68-52-prothrombin-mutation"),
        pytest.param(icd("D68.59", "Other primary thrombophilia"), False, id="d68-59-primary-thrombophilia"),
        pytest.param(icd("D68.61", "Antiphospholipid syndrome"), False, id="d68-61-antiphospholipid"),
        pytest.param(icd("D68.62", "Lupus anticoagulant syndrome"), False, id="d68-62-lupus-anticoagulant"),
        pytest.param(icd("D68.69", "Other thrombophilia"), False, id="d68-69-other-thrombophilia"),
        pytest.param(icd("D6861"), False, id="d6861-undotted-thrombophilia"),
        pytest.param(icd("D64.9", "Anemia, unspecified"), False, id="d64-9-anemia"),
        pytest.param(
            icd("Z79.01", "Long term (current) use of anticoagulants"),
            False,
            id="z79-01-anticoagulant-use-is-not-a-disorder",
        ),
        pytest.param(sct("D66"), False, id="icd-code-under-snomed-system"),
        pytest.param(icd("28293008"), False, id="snomed-code-under-icd-system"),
    ],
)
def test_bleeding_disorder_codes(code: Json, fires: bool, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="bd-1", onset=days_ago(900)))
    found = find_bleeding_disorders(record, knowledge, TODAY)
    assert bool(found) is fires
    if fires:
        assert [e.reference for e in found] == ["Condition/bd-1"]
        assert found[0].recorded == days_ago(900)


@pytest.mark.parametrize(
    ("kwargs", "fires"),
    [
        pytest.param({}, True, id="active"),
        pytest.param({"clinical_status": None}, True, id="no-clinical-status"),
        pytest.param({"clinical_status": "resolved", "abatement": days_ago(100)}, False, id="resolved"),
        pytest.param({"clinical_status": "inactive"}, False, id="inactive"),
        pytest.param({"verification_status": "entered-in-error"}, False, id="entered-in-error"),
        pytest.param({"verification_status": "refuted"}, False, id="refuted"),
        pytest.param({"clinical_status": None, "abatement": days_ago(1)}, False, id="abated"),
    ],
)
def test_bleeding_disorder_status(kwargs: dict[str, Any], fires: bool, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd("D66", "Hereditary factor VIII deficiency")), **kwargs))
    assert bool(find_bleeding_disorders(record, knowledge, TODAY)) is fires


def test_thrombophilia_and_bleeding_disorder_together(knowledge: Knowledge) -> None:
    record = patient_record(
        condition(concept(icd("D68.51", "Activated protein C resistance")), id="fvl"),
        condition(concept(icd("D68.00", "Von Willebrand disease, unspecified")), id="vwd"),
    )
    assert [e.reference for e in find_bleeding_disorders(record, knowledge, TODAY)] == ["Condition/vwd"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(
            icd("D66", "Hereditary factor VIII deficiency"), ["bleeding-disorder"], id="hemophilia-fires"
        ),
        pytest.param(icd("D68.61", "Antiphospholipid syndrome"), [], id="antiphospholipid-does-not"),
    ],
)
def test_bleeding_finding_through_evaluate(code: Json, expected: list[str], knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code), id="bd-2"))
    [order] = find_dry_needling_orders(draft_orders(dry_needling_order(id="dn-1")), knowledge)
    for findings, references in (
        (evaluate_orders([order], record, knowledge, TODAY), ("ServiceRequest/dn-1",)),
        (evaluate_patient(record, knowledge, TODAY), ()),
    ):
        bleeding = [f for f in findings if f.code == "bleeding-disorder"]
        assert [f.code for f in bleeding] == expected
        for finding in bleeding:
            assert finding.kind == "contraindication"
            assert finding.order_references == references
            assert [e.reference for e in finding.evidence] == ["Condition/bd-2"]
