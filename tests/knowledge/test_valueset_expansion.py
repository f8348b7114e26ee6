"""ICD-10-CM value sets against the pinned release (simple-icd-10-cm 1.5.0: ICD-10-CM FY2026 + April 2026).

- the committed expansions and generated compose lists are exactly what scripts/expand_valuesets.py writes;
- every ICD-10-CM code in every value set (compose and expansion) is a code of that release;
- the rules' compose-based matcher agrees with the expansion for every code of the release;
- the first-trimester list generated from the titles is the one clinical-knowledge.md 2a verified.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.valueset import ValueSet
from support.paths import ROOT

from fhir_mappings import Knowledge
from fhir_mappings.codes import ICD10CM
from fhir_mappings.knowledge import DATA_DIR

sys.path.insert(0, str(ROOT / "scripts"))
import expand_valuesets

VALUESET_FILES = sorted((DATA_DIR / "valuesets").glob("*.json"))


def _value_sets() -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for path in VALUESET_FILES
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]
    ]


VALUE_SETS = _value_sets()
ICD_VALUE_SETS = [vs for vs in VALUE_SETS if expand_valuesets.has_icd(vs)]
EACH_ICD_VALUE_SET = [pytest.param(vs, id=vs["id"]) for vs in ICD_VALUE_SETS]


def _expanded_icd(value_set: dict[str, Any]) -> set[str]:
    return {c["code"] for c in value_set["expansion"]["contains"] if c["system"] == ICD10CM}


def _compose_icd_codes(value_set: dict[str, Any]) -> list[str]:
    compose = value_set["compose"]
    codes: list[str] = []
    for part in [*compose.get("include", []), *compose.get("exclude", [])]:
        if part.get("system") == ICD10CM:
            codes += [f["value"] for f in part.get("filter") or []]
            codes += [c["code"] for c in part.get("concept") or []]
    return codes


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in VALUESET_FILES])
def test_committed_expansions_equal_a_regeneration(path: Path) -> None:
    assert expand_valuesets.render(path) == path.read_text(encoding="utf-8"), (
        f"{path.name} is out of date: run python scripts/expand_valuesets.py"
    )


def test_every_icd_value_set_has_an_expansion_naming_the_release() -> None:
    assert len(ICD_VALUE_SETS) >= 25
    for value_set in ICD_VALUE_SETS:
        expansion = value_set["expansion"]
        assert expansion["total"] == len(expansion["contains"]) > 0, value_set["id"]
        assert {"name": "used-codesystem", "valueUri": f"{ICD10CM}|2026"} in expansion["parameter"]
        sources = [e["valueString"] for e in value_set["extension"]]
        assert expand_valuesets.RELEASE_SOURCE in sources, value_set["id"]


@pytest.mark.parametrize("value_set", EACH_ICD_VALUE_SET)
def test_every_icd_code_is_valid_in_the_pinned_release(value_set: dict[str, Any]) -> None:
    codes = _compose_icd_codes(value_set) + sorted(_expanded_icd(value_set))
    invalid = [code for code in codes if not expand_valuesets.is_valid_code(code)]
    assert codes
    assert invalid == [], f"{value_set['id']}: not in ICD-10-CM FY2026 (April 2026)"


def test_the_validity_check_can_fail() -> None:
    for code in ("M54.5", "S76.311A", "O36.0110", "O00-O08", "Z3A.10"):
        assert expand_valuesets.is_valid_code(code), code
    for code in ("R51.1", "M54.52", "M54.5X", "O00-O9B", "Z3A.50", "15", "O00-O08X", "O08-O00"):
        assert not expand_valuesets.is_valid_code(code), code


@pytest.mark.parametrize("value_set", EACH_ICD_VALUE_SET)
def test_expansions_are_valid_fhir(value_set: dict[str, Any]) -> None:
    """The loader validates ValueSets without their (derived) expansion; this checks the expansion too."""
    ValueSet.model_validate(value_set)


@pytest.mark.slow  # every code of the release, for each value set
@pytest.mark.parametrize("value_set", EACH_ICD_VALUE_SET)
def test_rule_matching_agrees_with_the_expansion_on_every_release_code(
    value_set: dict[str, Any], knowledge: Knowledge
) -> None:
    matcher = knowledge.value_set(value_set["id"])
    expanded = _expanded_icd(value_set)
    categories = {expand_valuesets.dotless(code)[:3] for code in expanded}
    for code, dotted, _ in expand_valuesets.release_codes():
        if code[:3] in categories or matcher.contains(ICD10CM, code):
            assert matcher.contains(ICD10CM, code) is (dotted in expanded), (value_set["id"], dotted)


def _by_id(value_set_id: str) -> dict[str, Any]:
    return next(vs for vs in VALUE_SETS if vs["id"] == value_set_id)


def test_first_trimester_codes_are_the_362_chapter_15_leaves_titled_first_trimester() -> None:
    """clinical-knowledge.md 2a: 362 O-chapter leaves say "first trimester" in their title, plus Z34.x1."""
    icd = expand_valuesets.release()
    codes = _expanded_icd(_by_id("pregnancy-first-trimester-condition"))
    o_leaves = {c for c in codes if c.startswith("O") and icd.is_leaf(c)}
    assert len(o_leaves) == 362
    assert {c for c in codes if c.startswith("Z")} == {"Z34.01", "Z34.81", "Z34.91"}
    assert all("first trimester" in icd.get_description(c).lower() for c in codes)
    for sample in ("O09.01", "O26.851", "O36.0110", "O88.011", "O99.111", "O9A.111", "O42.011"):
        assert sample in codes, sample
    releases = expand_valuesets.release_codes()
    everything = {dotted for _, dotted, text in releases if "first trimester" in text.lower()}
    assert everything - codes == set()


@pytest.mark.parametrize("trimester", ["first", "second", "third"])
def test_trimester_codes_are_current_pregnancy_codes(trimester: str) -> None:
    trimester_codes = _expanded_icd(_by_id(f"pregnancy-{trimester}-trimester-condition"))
    current = _expanded_icd(_by_id("pregnancy-condition"))
    assert len(trimester_codes) > 350
    assert trimester_codes <= current


def test_current_and_ended_pregnancy_codes_do_not_overlap() -> None:
    current = _expanded_icd(_by_id("pregnancy-condition"))
    ended = _expanded_icd(_by_id("pregnancy-ended-condition"))
    assert current & ended == set()
    assert {"O10.02", "O24.430", "O99.43", "O80", "O03.9", "Z37.0", "Z39.2", "O60.14X0"} <= ended
    assert {"O10.011", "O24.410", "O88.011", "O91.011", "O60.02", "O34.211", "Z3A.10", "Z33.1"} <= current
    assert "O94" not in ended | current
