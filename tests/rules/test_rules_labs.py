"""Platelet count and INR (architecture.md section 4): thresholds and age limit from policy.json, UCUM unit
conversion, the newest readable result decides, an unknown unit is reported and never guessed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from support.builders import Json, days_ago, lab_result, patient_record
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_patient

PLATELETS = "777-3"
INR = "6301-6"
BLEEDING_LAB_CODES = {
    "severe-thrombocytopenia",
    "low-platelet-count",
    "inr-critical",
    "inr-elevated",
    "lab-unit-unknown",
}


def _codes(knowledge: Knowledge, *resources: Json) -> list[str]:
    findings = evaluate_patient(patient_record(*resources), knowledge, TODAY)
    return sorted(f.code for f in findings if f.code in BLEEDING_LAB_CODES)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (15, "10*3/uL", ["severe-thrombocytopenia"]),
        (19.9, "10*9/L", ["severe-thrombocytopenia"]),
        (20, "10*9/L", ["low-platelet-count"]),
        (49, "K/uL", ["low-platelet-count"]),
        (50, "10*3/uL", []),
        (250, "10*3/uL", []),
        (15000, "/uL", ["severe-thrombocytopenia"]),
        (45000, "/mm3", ["low-platelet-count"]),
        (150000, "/uL", []),
        (35, "x10E3/uL", ["low-platelet-count"]),
        (35, "10^3/µL", ["low-platelet-count"]),
        (35, "10^9/L", ["low-platelet-count"]),
        (35, "thou/mcL", ["low-platelet-count"]),
        (35, "cells/hpf", ["lab-unit-unknown"]),
        (35, None, ["lab-unit-unknown"]),
        (35, "mg/dL", ["lab-unit-unknown"]),
    ],
)
def test_platelet_thresholds_and_units(
    value: float, unit: str | None, expected: list[str], knowledge: Knowledge
) -> None:
    assert _codes(knowledge, lab_result(PLATELETS, value, unit, effective=days_ago(3))) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.1, "{INR}", []),
        (3.0, "{INR}", []),
        (3.1, "{INR}", ["inr-elevated"]),
        (3.9, None, ["inr-elevated"]),
        (4.0, "{INR}", ["inr-critical"]),
        (6.2, "1", ["inr-critical"]),
        (4.5, "ratio", ["inr-critical"]),
        (4.5, "s", ["lab-unit-unknown"]),  # seconds: a prothrombin time sent under an INR code
    ],
)
def test_inr_thresholds_and_units(
    value: float, unit: str | None, expected: list[str], knowledge: Knowledge
) -> None:
    assert _codes(knowledge, lab_result(INR, value, unit, effective=days_ago(2))) == expected


@pytest.mark.parametrize("loinc_code", ["777-3", "26515-7", "778-1", "13056-7", "26516-5", "97995-5"])
def test_every_platelet_code(loinc_code: str, knowledge: Knowledge) -> None:
    assert _codes(knowledge, lab_result(loinc_code, 12, "10*3/uL", effective=days_ago(1))) == [
        "severe-thrombocytopenia"
    ]


@pytest.mark.parametrize("loinc_code", ["6301-6", "34714-6", "38875-1", "46418-0", "52129-4"])
def test_every_inr_code(loinc_code: str, knowledge: Knowledge) -> None:
    assert _codes(knowledge, lab_result(loinc_code, 5.0, "{INR}", effective=days_ago(1))) == ["inr-critical"]


def test_a_prothrombin_time_is_not_an_inr(knowledge: Knowledge) -> None:
    assert _codes(knowledge, lab_result("5902-2", 45, "s", effective=days_ago(1))) == []


@pytest.mark.parametrize(
    ("age_days", "expected"), [(0, ["inr-critical"]), (30, ["inr-critical"]), (31, []), (400, [])]
)
def test_lab_age_limit(age_days: int, expected: list[str], knowledge: Knowledge) -> None:
    assert _codes(knowledge, lab_result(INR, 5.0, "{INR}", effective=days_ago(age_days))) == expected


def test_lab_age_limit_is_a_setting(knowledge: Knowledge) -> None:
    policy = dataclasses.replace(knowledge.policy, lab_max_age_days=7)
    strict = dataclasses.replace(knowledge, policy=policy)
    result = lab_result(INR, 5.0, "{INR}", effective=days_ago(10))
    assert _codes(knowledge, result) == ["inr-critical"]
    assert _codes(strict, result) == []


def test_thresholds_are_settings(knowledge: Knowledge) -> None:
    policy = dataclasses.replace(
        knowledge.policy, platelet_contraindication_below=30.0, inr_precaution_above=2.5
    )
    site = dataclasses.replace(knowledge, policy=policy)
    platelets = lab_result(PLATELETS, 25, "10*3/uL", effective=days_ago(1))
    inr = lab_result(INR, 2.8, "{INR}", effective=days_ago(1))
    assert _codes(knowledge, platelets, inr) == ["low-platelet-count"]
    assert _codes(site, platelets, inr) == ["inr-elevated", "severe-thrombocytopenia"]


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("final", True),
        ("amended", True),
        ("corrected", True),
        ("preliminary", False),
        ("entered-in-error", False),
    ],
)
def test_only_valid_results_count(status: str, counts: bool, knowledge: Knowledge) -> None:
    result = lab_result(PLATELETS, 10, "10*3/uL", effective=days_ago(1), status=status)
    assert bool(_codes(knowledge, result)) is counts


def test_the_newest_valid_result_wins(knowledge: Knowledge) -> None:
    old_low = lab_result(PLATELETS, 15, "10*3/uL", effective=days_ago(20), id="old")
    new_normal = lab_result(PLATELETS, 180, "10*3/uL", effective=days_ago(2), id="new")
    newer_preliminary = lab_result(PLATELETS, 10, "10*3/uL", effective=days_ago(1), status="preliminary")
    assert _codes(knowledge, old_low, new_normal, newer_preliminary) == []
    recovered_then_dropped = lab_result(PLATELETS, 40, "10*3/uL", effective=days_ago(1))
    assert _codes(knowledge, new_normal, recovered_then_dropped) == ["low-platelet-count"]


def test_an_unreadable_newer_result_is_reported_and_does_not_hide_an_older_one(knowledge: Knowledge) -> None:
    older = lab_result(PLATELETS, 15, "10*3/uL", effective=days_ago(10), id="older")
    newer = lab_result(PLATELETS, 180, "platelets/field", effective=days_ago(1), id="newer")
    findings = evaluate_patient(patient_record(older, newer), knowledge, TODAY)
    by_code = {f.code: f for f in findings if f.code in BLEEDING_LAB_CODES}
    assert sorted(by_code) == ["lab-unit-unknown", "severe-thrombocytopenia"]
    unknown = by_code["lab-unit-unknown"]
    assert unknown.facts["result"] == "180 platelets/field"
    assert unknown.facts["problem"] == "unit 'platelets/field' not recognised"
    assert [e.reference for e in unknown.evidence] == ["Observation/newer"]
    assert [e.reference for e in by_code["severe-thrombocytopenia"].evidence] == ["Observation/older"]


def test_an_unreadable_older_result_is_not_reported(knowledge: Knowledge) -> None:
    older = lab_result(PLATELETS, 15, "cells/hpf", effective=days_ago(10))
    newer = lab_result(PLATELETS, 220, "10*3/uL", effective=days_ago(1))
    assert _codes(knowledge, older, newer) == []


@pytest.mark.parametrize(
    ("value", "extra", "expected"),
    [
        pytest.param(
            {"valueString": "Platelet clumps seen, unable to count"},
            {},
            ["lab-unit-unknown"],
            id="text-value",
        ),
        pytest.param(
            {"valueQuantity": {"unit": "10*3/uL"}}, {}, ["lab-unit-unknown"], id="quantity-without-value"
        ),
        pytest.param({}, {"dataAbsentReason": {"text": "Specimen clotted"}}, [], id="data-absent"),
    ],
)
def test_results_without_a_numeric_value(
    value: Json, extra: Json, expected: list[str], knowledge: Knowledge
) -> None:
    result = lab_result(PLATELETS, None, None, effective=days_ago(1), code=None)
    result.pop("valueQuantity", None)
    result.update(value)
    result.update(extra)
    assert _codes(knowledge, result) == expected


@pytest.mark.parametrize(
    ("loinc_code", "comparator", "value", "expected"),
    [
        (PLATELETS, "<", 10, ["severe-thrombocytopenia"]),
        (PLATELETS, ">", 400, []),
        (INR, ">", 8, ["inr-critical"]),
        (INR, "<", 1.0, []),
    ],
)
def test_comparators_read_at_their_worst_case(
    loinc_code: str, comparator: str, value: float, expected: list[str], knowledge: Knowledge
) -> None:
    unit = "10*3/uL" if loinc_code == PLATELETS else "{INR}"
    result = lab_result(loinc_code, value, unit, effective=days_ago(1), comparator=comparator)
    assert _codes(knowledge, result) == expected
    for finding in evaluate_patient(patient_record(result), knowledge, TODAY):
        if finding.code in BLEEDING_LAB_CODES:
            assert finding.facts["value"].startswith(comparator)  # "<10 x10^9/L", never "0 x10^9/L"


def test_finding_facts_state_the_value_date_and_conversion(knowledge: Knowledge) -> None:
    result = lab_result(PLATELETS, 18000, "/uL", effective=days_ago(4), id="plt")
    [finding] = [
        f for f in evaluate_patient(patient_record(result), knowledge, TODAY) if f.code in BLEEDING_LAB_CODES
    ]
    assert finding.kind == "contraindication"
    assert finding.facts == {
        "result": "18000 /uL",
        "value": "18 x10^9/L",
        "date": days_ago(4).isoformat(),
        "threshold": "below 20 x10^9/L",
    }
    assert "(= 18 x10^9/L)" in finding.evidence[0].description


def test_a_lab_coded_only_by_text_is_not_read(knowledge: Knowledge) -> None:
    result = lab_result(PLATELETS, 10, "10*3/uL", effective=days_ago(1))
    result["code"] = {"text": "Platelets"}
    assert _codes(knowledge, result) == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**400, id="huge"),
        pytest.param(-(10**400), id="huge-negative"),
        pytest.param(-5, id="negative"),
        pytest.param("12", id="string"),
        pytest.param(True, id="bool"),
    ],
)
def test_values_that_are_not_finite_numbers_are_reported_not_crashed(
    value: Any, knowledge: Knowledge
) -> None:
    result = lab_result(PLATELETS, 1, "10*3/uL", effective=days_ago(1))
    result["valueQuantity"]["value"] = value
    assert _codes(knowledge, result) == ["lab-unit-unknown"]


@pytest.mark.parametrize(
    ("unit", "code", "sent", "fact_value"),
    [
        pytest.param("x10^9/L", "10*9/L", "15 x10^9/L", "15 x10^9/L", id="readable-unit"),
        pytest.param("K/uL", "10*3/uL", "15 K/uL", "15 x10^9/L", id="readable-other-unit"),
        pytest.param(None, "10*9/L", "15 10*9/L", "15 x10^9/L", id="code-only"),  # no readable unit: the code
        pytest.param("x10^9/L", None, "15 x10^9/L", "15 x10^9/L", id="unit-only"),
    ],
)
def test_result_as_sent_shows_the_readable_unit(
    unit: str | None, code: str | None, sent: str, fact_value: str, knowledge: Knowledge
) -> None:
    result = lab_result(PLATELETS, 15, unit, code=code, effective=days_ago(1), id="plt")
    [finding] = [
        f for f in evaluate_patient(patient_record(result), knowledge, TODAY) if f.facts.get("result")
    ]
    assert finding.code == "severe-thrombocytopenia"
    assert (finding.facts["result"], finding.facts["value"]) == (sent, fact_value)
    assert finding.evidence[0].description.startswith(f"Platelet count {sent}")


def test_inr_as_sent_shows_the_readable_unit(knowledge: Knowledge) -> None:
    result = lab_result(INR, 3.4, "INR", code="{INR}", effective=days_ago(1))
    [finding] = [
        f for f in evaluate_patient(patient_record(result), knowledge, TODAY) if f.facts.get("result")
    ]
    facts = (finding.code, finding.facts["result"], finding.facts["value"])
    assert facts == ("inr-elevated", "3.4 INR", "3.4")
