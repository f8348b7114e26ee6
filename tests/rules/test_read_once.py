"""What lies under the rules' API for speed: concepts read once per call (fhir_json.read_once), value sets
compiled to hash lookups with remembered answers. The answers must be exactly those of a plain reading."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.codes import ICD10CM, SNOMED, SystemAliases
from fhir_mappings.fhir_json import codings, read_once, remembered, status_code
from fhir_mappings.valuesets import compile_value_set

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def concept() -> dict[str, Any]:
    return {"coding": [{"system": ICD10CM, "code": "M54.50", "display": "Low back pain"}], "text": "LBP"}


def test_inside_read_once_a_concept_is_read_once_and_callers_get_their_own_list() -> None:
    value = concept()
    with read_once():
        first = codings(value)
        value["coding"].append({"system": SNOMED, "code": "279039007"})  # nothing changes JSON in a call...
        again = codings(value)
        first.clear()  # ...and a caller mutating its answer cannot change the next caller's
        third = codings(value)

    assert [c.code for c in again] == ["M54.50"] == [c.code for c in third]
    assert [c.code for c in codings(value)] == ["M54.50", "279039007"]  # outside: read afresh


def test_each_read_once_block_starts_empty_and_equal_objects_are_not_confused() -> None:
    a, b = concept(), concept()
    b["coding"][0]["code"] = "M54.2"
    with read_once():
        assert [c.code for c in codings(a)] == ["M54.50"]
        assert [c.code for c in codings(b)] == ["M54.2"]
    a["coding"][0]["code"] = "M79.1"
    with read_once():
        assert [c.code for c in codings(a)] == ["M79.1"]


def test_status_reads_are_remembered_per_system() -> None:
    status = {"coding": [{"system": "urn:local", "code": "X"}, {"system": CLINICAL, "code": "Active"}]}
    with read_once():
        assert status_code(status, CLINICAL) == "active"
        assert status_code(status, "urn:other") == "x"  # another question about the same concept


def test_remembered_computes_every_time_outside_read_once() -> None:
    calls: list[int] = []
    value = concept()

    def answer() -> int:
        calls.append(1)
        return len(calls)

    assert remembered(value, "q", answer) == 1
    assert remembered(value, "q", answer) == 2
    with read_once():
        assert remembered(value, "q", answer) == 3
        assert remembered(value, "q", answer) == 3


VALUE_SET: dict[str, Any] = {
    "resourceType": "ValueSet",
    "id": "test",
    "compose": {
        "include": [
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "M54"}]},
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "M25.56"}]},
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "O00-O08"}]},
            {"system": ICD10CM, "concept": [{"code": "Z33.1"}]},
            {"system": SNOMED, "concept": [{"code": "279039007", "display": "Low back pain"}]},
        ],
        "exclude": [
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "M54.1"}]},
            {"system": ICD10CM, "filter": [{"property": "concept", "op": "is-a", "value": "O03-O03"}]},
            {"system": ICD10CM, "concept": [{"code": "M54.50"}]},
        ],
    },
}


@pytest.mark.parametrize(
    ("system", "code", "specificity"),
    [
        (ICD10CM, "M54.2", 3),  # under the M54 category
        (ICD10CM, "m54.59", 3),  # case and dot do not matter
        (ICD10CM, "M54.50", 0),  # excluded by concept
        (ICD10CM, "M54.16", 0),  # excluded by prefix
        (ICD10CM, "M25.561", 5),  # the longest matching prefix counts
        (ICD10CM, "M25.5", 0),  # shorter than the included prefix
        (ICD10CM, "O04.5", 3),  # in the block
        (ICD10CM, "O03.9", 0),  # in the excluded block
        (ICD10CM, "O09.90", 0),  # after the block
        (ICD10CM, "Z33.1", 99),  # exact code
        (SNOMED, "279039007", 99),
        (SNOMED, "M54", 0),  # prefixes are ICD-10-CM only
        (ICD10CM, "", 0),
    ],
)
def test_compiled_membership_and_specificity(system: str, code: str, specificity: int) -> None:
    matcher = compile_value_set(VALUE_SET)

    for _ in range(2):  # computed, then remembered
        assert matcher.specificity(system, code) == specificity
        assert matcher.contains(system, code) is (specificity > 0)


def test_membership_stays_right_past_the_memo_bound() -> None:
    matcher = compile_value_set(VALUE_SET)
    codes = [f"M54.2{n:04d}" for n in range(10_000)] + [f"M55.2{n:04d}" for n in range(10_000)]

    assert [matcher.contains(ICD10CM, code) for code in codes] == [c.startswith("M54") for c in codes]
    assert matcher.contains(ICD10CM, "M54.2")


def test_system_aliases_give_the_same_answer_when_remembered() -> None:
    aliases = SystemAliases({SNOMED: ["urn:oid:2.16.840.1.113883.6.96"]})
    variants = ["HTTP://SNOMED.INFO/SCT/", "2.16.840.1.113883.6.96", "https://snomed.info/sct", "urn:x"]

    first = [aliases.canonical(v) for v in variants]
    second = [aliases.canonical(v) for v in variants]

    assert first == second == [SNOMED, SNOMED, SNOMED, "urn:x"]


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"coding": [{"system": CLINICAL, "code": "active"}]}, id="usual"),
        pytest.param({"coding": [{"system": CLINICAL, "code": " Resolved "}]}, id="spaces and case"),
        pytest.param(
            {"coding": [{"system": CLINICAL, "code": "  "}], "text": "Entered in error"}, id="blank code"
        ),
        pytest.param({"coding": [{"system": CLINICAL, "code": 7}]}, id="numeric code"),
        pytest.param({"coding": [{"system": CLINICAL + " ", "code": "active"}]}, id="system with a space"),
        pytest.param(
            {"coding": [{"system": CLINICAL, "code": "active"}, {"system": CLINICAL, "code": "resolved"}]},
            id="two from the system",
        ),
        pytest.param(
            {"coding": [{"system": CLINICAL, "code": ""}, {"system": CLINICAL, "code": "resolved"}]},
            id="first empty",
        ),
        pytest.param(
            {"coding": [{"system": "urn:local", "code": "A"}, {"code": "x"}]}, id="no system coding"
        ),
        pytest.param({"coding": [], "text": "Active"}, id="text only"),
        pytest.param({"coding": {"system": CLINICAL, "code": "active"}}, id="one coding object"),
        pytest.param({"coding": ["active"]}, id="a string coding"),
    ],
)
def test_a_status_read_directly_is_the_status_read_in_full(status: dict[str, object]) -> None:
    """The direct reading of the usual shape (a first coding from the status system) answers what reading
    every coding does, for every shape; the others take the full reading."""
    from fhir_mappings.fhir_json import _status_code

    assert status_code(status, CLINICAL) == _status_code(status, CLINICAL)
    with read_once():
        assert status_code(status, CLINICAL) == _status_code(status, CLINICAL)
