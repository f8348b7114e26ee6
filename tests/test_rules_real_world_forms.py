"""Issue 11: data forms production EHRs send, each class read as a class (not only its first example).

Class 1: free-text pregnancy answers read as a whole; class 6: lab values as strings and comparators;
class 11: results inside panels (components, contained hasMember results).
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir_builders import (
    NOW,
    concept,
    days_ago,
    lab_result,
    loinc,
    observation,
    patient_record,
    text_only,
)

from fhir_mappings import Knowledge, evaluate_patient
from fhir_mappings.answer_text import combine_answers, read_answer_text
from fhir_mappings.pregnancy import assess_pregnancy

Json = dict[str, Any]
LAB_CODES = {
    "severe-thrombocytopenia",
    "low-platelet-count",
    "inr-critical",
    "inr-elevated",
    "lab-unit-unknown",
}


def _lab_codes(knowledge: Knowledge, *resources: Json) -> list[str]:
    findings = evaluate_patient(patient_record(*resources), knowledge, NOW)
    return sorted(f.code for f in findings if f.code in LAB_CODES)


# --- class 1: the whole free-text answer -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        # a positive answer with a qualifier that carries a negation word: still pregnant
        ("Pregnant - no complications", "pregnant"),
        ("pregnant, Rh negative", "pregnant"),
        ("Yes, pregnant (no bleeding)", "pregnant"),
        ("Positive, no hook effect", "pregnant"),
        ("POSITIVE - no spotting reported", "pregnant"),
        ("Currently pregnant, no issues", "pregnant"),
        ("Pregnancy", "pregnant"),
        ("Yes", "pregnant"),
        ("Detected", "pregnant"),
        # a positive and a negative phrase together: at best possible, never "not pregnant"
        ("Negative, but pregnant by ultrasound", "possible"),
        ("Neg - possible early pregnancy", "possible"),
        ("positive / negative (repeat)", "possible"),
        ("pregnant? unsure", "possible"),
        # plain negatives stay negative
        ("No", "not-pregnant"),
        ("NEG", "not-pregnant"),
        ("Negative", "not-pregnant"),
        ("Not pregnant", "not-pregnant"),
        ("not-pregnant.", "not-pregnant"),
        ("Negative for pregnancy", "not-pregnant"),
        ("Not detected", "not-pregnant"),
        ("patient states she is not pregnant", "not-pregnant"),
        ("Unknown", "unknown"),
        ("negative, status unknown", "unknown"),
        ("no hook effect", None),
        ("", None),
    ],
)
def test_free_text_answers_are_read_whole(text: str, answer: str | None, knowledge: Knowledge) -> None:
    assert read_answer_text(text, knowledge.answer_text) == answer


def test_combined_answers_never_read_as_not_pregnant() -> None:
    answers = ("pregnant", "possible", "unknown", "not-pregnant")
    for first in answers:
        for second in answers:
            combined = combine_answers({first, second})
            if first != second and "not-pregnant" in {first, second}:
                assert combined != "not-pregnant", (first, second)
            if "pregnant" in {first, second} and first != second:
                assert combined == "possible"


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ({"valueString": "Pregnant - no complications"}, "first-trimester"),
        ({"valueString": "pregnant, Rh negative"}, "first-trimester"),
        ({"valueCodeableConcept": text_only("Yes, pregnant (no bleeding)")}, "first-trimester"),
        ({"valueString": "No"}, "not-pregnant"),
    ],
)
def test_status_observation_text_answers(value: Json, status: str, knowledge: Knowledge) -> None:
    status_obs = observation(
        concept(loinc("82810-3", "Pregnancy status")), effective=days_ago(2), value=value
    )
    assert assess_pregnancy(patient_record(status_obs), knowledge, NOW).status == status


@pytest.mark.parametrize("code", ["2106-3", "19080-1", "2118-8"])
def test_hcg_text_with_a_negation_word_is_positive(code: str, knowledge: Knowledge) -> None:
    test = observation(
        concept(loinc(code)),
        effective=days_ago(2),
        category="laboratory",
        value={"valueString": "Positive, no hook effect"},
    )
    assert assess_pregnancy(patient_record(test), knowledge, NOW).status == "first-trimester"


# --- class 6: lab values as strings, and comparators ------------------------------------------------------


def _string_lab(code: str, text: str) -> Json:
    return observation(
        concept(loinc(code)), effective=days_ago(1), category="laboratory", value={"valueString": text}
    )


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("6301-6", ">8.0", ["inr-critical"]),
        ("6301-6", "> 6", ["inr-critical"]),
        ("6301-6", "\u22655", ["inr-critical"]),
        ("6301-6", "4.6", ["inr-critical"]),
        ("34714-6", "3.2", ["inr-elevated"]),
        ("6301-6", "1.1", []),
        ("6301-6", "<1.0", []),
        ("777-3", "<10", ["severe-thrombocytopenia"]),
        ("777-3", "< 5 K/uL", ["severe-thrombocytopenia"]),
        ("26515-7", "<=19", ["severe-thrombocytopenia"]),
        ("777-3", "15 K/uL", ["severe-thrombocytopenia"]),
        ("777-3", "15,000 /uL", ["severe-thrombocytopenia"]),
        ("777-3", "45 10*3/uL", ["low-platelet-count"]),
        ("777-3", ">400 K/uL", []),
        ("777-3", "15", ["lab-unit-unknown"]),  # a count with no unit is never guessed
        ("777-3", "clumped, see smear", ["lab-unit-unknown"]),
        ("6301-6", "8.0 (critical, called to RN)", ["lab-unit-unknown"]),
    ],
)
def test_string_values_are_read_as_the_spec_defines_them(
    code: str, text: str, expected: list[str], knowledge: Knowledge
) -> None:
    assert _lab_codes(knowledge, _string_lab(code, text)) == expected


@pytest.mark.parametrize(
    ("code", "value", "comparator", "unit", "expected"),
    [
        ("777-3", 10, "<", None, ["severe-thrombocytopenia"]),  # worst case whatever the unit
        ("777-3", 10, "<", "10*3/uL", ["severe-thrombocytopenia"]),
        ("777-3", 10, ">", None, ["lab-unit-unknown"]),  # a safe-side bound without unit is not read
        ("6301-6", 8, ">", "{INR}", ["inr-critical"]),
        ("6301-6", 8, ">=", "mystery", ["inr-critical"]),
        ("6301-6", 1, "<", None, []),
    ],
)
def test_quantity_comparators(
    code: str, value: float, comparator: str, unit: str | None, expected: list[str], knowledge: Knowledge
) -> None:
    result = lab_result(code, value, unit, effective=days_ago(1), comparator=comparator)
    assert _lab_codes(knowledge, result) == expected


# --- class 11: results inside panels ----------------------------------------------------------------------


def _component(code: str, value: Json) -> Json:
    return {"code": concept(loinc(code)), **value}


@pytest.mark.parametrize(
    ("panel_code", "component_code", "value", "expected"),
    [
        (
            "58410-2",
            "777-3",
            {"valueQuantity": {"value": 12, "unit": "10*3/uL"}},
            ["severe-thrombocytopenia"],
        ),
        ("57021-8", "26515-7", {"valueQuantity": {"value": 35, "unit": "K/uL"}}, ["low-platelet-count"]),
        ("69742-5", "777-3", {"valueString": "<10"}, ["severe-thrombocytopenia"]),
        ("34528-0", "6301-6", {"valueQuantity": {"value": 5.5}}, ["inr-critical"]),
        ("34528-0", "34714-6", {"valueQuantity": {"value": 3.1, "unit": "{INR}"}}, ["inr-elevated"]),
        ("58410-2", "777-3", {"valueQuantity": {"value": 250, "unit": "10*3/uL"}}, []),
    ],
)
def test_panel_components_are_read_like_standalone_results(
    panel_code: str, component_code: str, value: Json, expected: list[str], knowledge: Knowledge
) -> None:
    panel = observation(
        concept(loinc(panel_code)),
        effective=days_ago(1),
        category="laboratory",
        components=[
            _component("718-7", {"valueQuantity": {"value": 13, "unit": "g/dL"}}),
            _component(component_code, value),
        ],
    )
    assert _lab_codes(knowledge, panel) == expected


def test_a_component_of_a_preliminary_panel_does_not_count(knowledge: Knowledge) -> None:
    panel = observation(
        concept(loinc("58410-2")),
        status="preliminary",
        effective=days_ago(1),
        category="laboratory",
        components=[_component("777-3", {"valueQuantity": {"value": 5, "unit": "10*3/uL"}})],
    )
    assert _lab_codes(knowledge, panel) == []


def test_contained_has_member_results_are_read(knowledge: Knowledge) -> None:
    panel = observation(concept(loinc("58410-2")), id="cbc", effective=days_ago(1), category="laboratory")
    panel["contained"] = [
        {
            "resourceType": "Observation",
            "id": "plt",
            "status": "final",
            "code": concept(loinc("777-3")),
            "valueQuantity": {"value": 8, "unit": "10*3/uL"},
        }
    ]
    panel["hasMember"] = [{"reference": "#plt"}]
    findings = evaluate_patient(patient_record(panel), knowledge, NOW)
    severe = [f for f in findings if f.code == "severe-thrombocytopenia"]
    assert severe and severe[0].evidence[0].reference == "Observation/cbc"


def test_members_sent_alongside_are_read_once(knowledge: Knowledge) -> None:
    member = lab_result("6301-6", 4.8, None, id="inr1", effective=days_ago(1))
    panel = observation(concept(loinc("34528-0")), effective=days_ago(1), category="laboratory")
    panel["hasMember"] = [{"reference": "Observation/inr1"}]
    assert _lab_codes(knowledge, panel, member) == ["inr-critical"]
