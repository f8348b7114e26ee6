"""Reproductive potential and the pregnancy-status-unknown finding (architecture.md section 4)."""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    NOT_PREGNANT_SCT,
    PATIENT_ID,
    UNKNOWN_LOINC,
    Json,
    coding,
    concept,
    condition,
    days_ago,
    draft_orders,
    dry_needling_order,
    icd,
    pregnancy_status,
    sct,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, PatientRecord, evaluate_orders, find_dry_needling_orders
from fhir_mappings.evaluation import evaluate_patient
from fhir_mappings.reproductive import reproductive_potential


def _patient(gender: str | None = "female", birth: str | None = "1995-03-02", **extra: Any) -> Json:
    resource: Json = {"resourceType": "Patient", "id": PATIENT_ID}
    if gender is not None:
        resource["gender"] = gender
    if birth is not None:
        resource["birthDate"] = birth
    resource.update(extra)
    return resource


def _record(patient: Json | None, *resources: Json) -> PatientRecord:
    return PatientRecord(
        PATIENT_ID,
        conditions=tuple(r for r in resources if r["resourceType"] == "Condition"),
        observations=tuple(r for r in resources if r["resourceType"] == "Observation"),
        patient=patient,
        procedures=tuple(r for r in resources if r["resourceType"] == "Procedure"),
    )


def _order_codes(record: PatientRecord, knowledge: Knowledge) -> list[str]:
    orders = find_dry_needling_orders(draft_orders(dry_needling_order(id="dn-1")), knowledge)
    return [f.code for f in evaluate_orders(orders, record, knowledge, TODAY)]


def _procedure(code: Json, status: str = "completed") -> Json:
    return {
        "resourceType": "Procedure",
        "id": "proc-1",
        "status": status,
        "code": concept(code),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "performedDateTime": "2021-05-04",
    }


BIRTH_SEX_F = [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "F"}]
BIRTH_SEX_M = [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "M"}]
SPCU_MALE = [
    {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse",
        "extension": [
            {
                "url": "value",
                "valueCodeableConcept": concept(
                    coding(
                        "http://terminology.hl7.org/CodeSystem/sex-parameter-for-clinical-use", "male-typical"
                    )
                ),
            }
        ],
    }
]


@pytest.mark.parametrize(
    ("patient", "resources", "possible"),
    [
        (_patient(), [], True),
        (None, [], False),  # nothing known: no prompt
        (_patient("male"), [], False),
        (_patient("other"), [], True),  # neither female nor male: not excluded
        (_patient(None), [], True),
        (_patient("male", extension=BIRTH_SEX_F), [], True),  # birth sex before administrative gender
        (_patient("female", extension=BIRTH_SEX_M), [], False),
        (_patient("female", extension=BIRTH_SEX_F + SPCU_MALE), [], False),  # sex for clinical use first
        (_patient(birth=None), [], True),  # age unknown: not excluded
        (_patient(birth=f"{TODAY.year - 12}-{TODAY.month:02d}-{TODAY.day:02d}"), [], True),  # 12 today
        (_patient(birth=f"{TODAY.year - 12}-12-31"), [], False),  # 11 until the end of the year
        (_patient(birth=f"{TODAY.year - 55}-01-01"), [], True),
        (_patient(birth=f"{TODAY.year - 56}-01-01"), [], False),
        (_patient(birth=f"{TODAY.year - 56}"), [], True),  # year only: might still be 55
        (_patient(), [_procedure(sct("116140006", "Total hysterectomy"))], False),
        (_patient(), [_procedure(sct("116140006", "Total hysterectomy"), "not-done")], True),
        (_patient(), [_procedure(sct("116140006", "Total hysterectomy"), "entered-in-error")], True),
        (_patient(), [_procedure(coding("http://www.ama-assn.org/go/cpt", "58571"))], False),
        (_patient(), [condition(concept(icd("Z90.711")), clinical_status="inactive")], False),
        (_patient(), [condition(concept(icd("Z90.710")), verification_status="entered-in-error")], True),
        (_patient(), [condition(concept(icd("Z90.712")))], True),  # cervix absent, uterus remains
    ],
)
def test_reproductive_potential(
    patient: Json | None, resources: list[Json], possible: bool, knowledge: Knowledge
) -> None:
    assert reproductive_potential(_record(patient, *resources), knowledge, TODAY).possible is possible


@pytest.mark.parametrize(
    ("resources", "fires"),
    [
        ([], True),
        ([pregnancy_status(NOT_PREGNANT_SCT, days_ago(30))], False),
        ([pregnancy_status(NOT_PREGNANT_SCT, days_ago(31))], True),
        ([pregnancy_status(UNKNOWN_LOINC, days_ago(2))], True),
        (
            [pregnancy_status(NOT_PREGNANT_SCT, days_ago(10)), pregnancy_status(UNKNOWN_LOINC, days_ago(2))],
            True,
        ),
        (
            [pregnancy_status(UNKNOWN_LOINC, days_ago(10)), pregnancy_status(NOT_PREGNANT_SCT, days_ago(2))],
            False,
        ),
        ([pregnancy_status(NOT_PREGNANT_SCT, days_ago(2), status="preliminary")], True),
        ([condition(concept(icd("O80")), onset=days_ago(20), category="encounter-diagnosis")], False),
        ([condition(concept(icd("O80")), onset=days_ago(60), category="encounter-diagnosis")], True),
    ],
)
def test_pregnancy_status_unknown(resources: list[Json], fires: bool, knowledge: Knowledge) -> None:
    codes = _order_codes(_record(_patient(), *resources), knowledge)
    assert ("pregnancy-status-unknown" in codes) is fires
    assert "pregnancy-first-trimester" not in codes


def test_no_prompt_when_a_pregnancy_is_current(knowledge: Knowledge) -> None:
    from support.builders import PREGNANT_SCT

    codes = [
        f.code
        for f in evaluate_patient(
            _record(_patient(), pregnancy_status(PREGNANT_SCT, days_ago(3))), knowledge, TODAY
        )
    ]
    assert "pregnancy-first-trimester" in codes
    assert "pregnancy-status-unknown" not in codes


def _hcg(loinc_code: str, value: Json, days: int, status: str = "final") -> Json:
    return {
        "resourceType": "Observation",
        "id": f"hcg-{loinc_code}-{days}",
        "status": status,
        "category": [
            concept(coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory"))
        ],
        "code": concept(coding("http://loinc.org", loinc_code)),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": days_ago(days).isoformat(),
        **value,
    }


def _qty(value: float, unit: str) -> Json:
    return {
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    }


NEGATIVE = {"valueCodeableConcept": concept(coding("http://loinc.org", "LA6577-6", "Negative"))}
POSITIVE = {"valueCodeableConcept": concept(sct("10828004", "Positive"))}


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (_hcg("2106-3", NEGATIVE, 10), set()),  # negative urine test 10 days ago: status known
        (_hcg("2106-3", NEGATIVE, 40), {"pregnancy-status-unknown"}),  # too old
        (_hcg("2106-3", NEGATIVE, 3, status="preliminary"), {"pregnancy-status-unknown"}),
        (
            _hcg("2118-8", POSITIVE, 3),
            {"pregnancy-first-trimester"},
        ),  # positive serum test: undated pregnancy
        (_hcg("2106-3", {"valueString": "Negative"}, 5), set()),  # text only
        (_hcg("19080-1", _qty(2, "m[IU]/mL"), 5), set()),  # < 5: negative
        (_hcg("19080-1", _qty(12, "[IU]/L"), 5), {"pregnancy-first-trimester"}),  # equivocal: possible
        (_hcg("19080-1", _qty(1800, "m[IU]/mL"), 5), {"pregnancy-first-trimester"}),
        (_hcg("19080-1", _qty(2, "ng/mL"), 5), {"pregnancy-status-unknown"}),  # unknown unit: not used
    ],
)
def test_pregnancy_tests(observation: Json, expected: set[str], knowledge: Knowledge) -> None:
    codes = set(_order_codes(_record(_patient(), observation), knowledge))
    assert (
        codes & {"pregnancy-status-unknown", "pregnancy-first-trimester", "pregnancy-later-trimester"}
        == expected
    )


def test_patient_view_does_not_ask_for_the_status(knowledge: Knowledge) -> None:
    """The prompt belongs to ordering dry needling; on every chart opening it would be alert fatigue."""
    record = _record(_patient())
    assert "pregnancy-status-unknown" in _order_codes(record, knowledge)
    assert "pregnancy-status-unknown" not in [f.code for f in evaluate_patient(record, knowledge, TODAY)]
