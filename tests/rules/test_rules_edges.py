"""Edges of the rules that mutation testing (scripts/mutate.py) found untested: each test tells a one-step
change of a comparison from the rule as written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.builders import (
    Json,
    condition,
    draft_orders,
    dry_needling_order,
    icd,
    icd_condition,
    lab_result,
    patient_record,
    text_only,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_patient, find_dry_needling_orders
from fhir_mappings.body_regions import read_body_site
from fhir_mappings.fhir_json import reference_parts
from fhir_mappings.indications import find_indications
from fhir_mappings.records import is_active_condition

PLATELETS, INR = "777-3", "6301-6"
LAB_CODES = {"severe-thrombocytopenia", "low-platelet-count", "inr-critical", "inr-elevated"}
SITE_TEXT_CAP = 256  # body_regions._MAX_SITE_TEXT: a site description is read up to here, never mid-word


def _lab_codes(knowledge: Knowledge, *resources: Json) -> list[str]:
    findings = evaluate_patient(patient_record(*resources), knowledge, TODAY)
    return sorted(f.code for f in findings if f.code in LAB_CODES)


@pytest.mark.parametrize(
    ("text", "regions"),
    [
        pytest.param("x" * (SITE_TEXT_CAP - 5) + " knee", {"LOWER_LIMB"}, id="at-the-cap-read-whole"),
        pytest.param("x" * (SITE_TEXT_CAP - 4) + " knee", set(), id="past-the-cap-word-dropped"),
    ],
)
def test_site_text_is_read_up_to_the_cap_and_a_cut_word_is_dropped(
    text: str, regions: set[str], knowledge: Knowledge
) -> None:
    site = read_body_site(text_only(text), knowledge.body_regions, knowledge.aliases)
    assert set(site.regions) == regions


@pytest.mark.parametrize(
    ("value", "comparator", "expected"),
    [
        # A comparator is read at its worst case: "<30" platelets may be any lower count, ">3.5" INR any
        # higher ratio; a bound on the safe side (">10" platelets, "<5" INR) keeps its number.
        pytest.param(30, "<", ["severe-thrombocytopenia"], id="platelets-below-30"),
        pytest.param(10, ">", ["severe-thrombocytopenia"], id="platelets-above-10"),
        pytest.param(3.5, ">", ["inr-critical"], id="inr-above-3.5"),
        pytest.param(5, "<", ["inr-critical"], id="inr-below-5"),
    ],
)
def test_a_comparator_is_read_at_its_worst_case(
    value: float, comparator: str, expected: list[str], knowledge: Knowledge
) -> None:
    code = PLATELETS if value in {30, 10} else INR
    unit = "10*9/L" if code == PLATELETS else "{INR}"
    result = lab_result(code, value, unit, effective=TODAY, comparator=comparator)
    assert _lab_codes(knowledge, result) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0, ["severe-thrombocytopenia"], id="zero-is-a-count"),
        pytest.param(-1, [], id="negative-is-an-error"),
        pytest.param(19.9, ["severe-thrombocytopenia"], id="just-below-20"),
        pytest.param(49.9, ["low-platelet-count"], id="just-below-50"),
    ],
)
def test_platelet_counts_zero_negative_and_just_below_a_threshold(
    value: float, expected: list[str], knowledge: Knowledge
) -> None:
    assert _lab_codes(knowledge, lab_result(PLATELETS, value, "10*9/L", effective=TODAY)) == expected


@pytest.mark.parametrize(
    ("abated_in_days", "active"),
    [pytest.param(1, True, id="abates-tomorrow"), pytest.param(0, False, id="abated-today")],
)
def test_a_condition_counts_until_its_abatement_day(
    abated_in_days: int, active: bool, knowledge: Knowledge
) -> None:
    resource = icd_condition(
        "L03.115", "Cellulitis of right lower limb", abatement=TODAY + timedelta(days=abated_in_days)
    )
    assert is_active_condition(resource, TODAY, knowledge.policy) is active


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        pytest.param("Condition/1", ("Condition", "1"), id="relative"),
        pytest.param("Condition", None, id="type-only"),
        pytest.param("1", None, id="id-only"),
    ],
)
def test_a_reference_needs_a_type_and_an_id(reference: str, parts: tuple[str, str] | None) -> None:
    assert reference_parts(reference) == parts


def test_a_contained_reason_with_a_one_character_id_is_found(knowledge: Knowledge) -> None:
    reason = condition(concept_of("M77.11"), id="r")
    del reason["subject"]
    order = dry_needling_order(id="dn-1", reason_references=["#r"])
    order["contained"] = [reason]
    [found] = find_dry_needling_orders(draft_orders(order), knowledge)
    keys = {m.key for m in find_indications(found, patient_record(), knowledge, TODAY).matches}
    assert keys == {"lateral-epicondylitis"}


def concept_of(code: str) -> Json:
    return {"coding": [icd(code)]}


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("O00.1", id="first-category-of-the-block"),
        pytest.param("O08.9", id="last-category-of-the-block"),
        pytest.param("O04.5", id="inside"),
    ],
)
def test_an_icd_block_includes_its_first_and_last_category(code: str, knowledge: Knowledge) -> None:
    """pregnancy-ended-condition includes the block O00-O08 (pregnancy with abortive outcome)."""
    matcher = knowledge.value_set("pregnancy-ended-condition")
    assert matcher.match_concept(concept_of(code), knowledge.aliases)


def test_an_icd_block_excludes_the_categories_around_it(knowledge: Knowledge) -> None:
    matcher = knowledge.value_set("pregnancy-ended-condition")
    assert not matcher.match_concept(concept_of("O09.90"), knowledge.aliases)
    assert not matcher.match_concept(concept_of("N99.9"), knowledge.aliases)


def test_a_snomed_disorder_gives_its_finding_site_without_words_naming_it(knowledge: Knowledge) -> None:
    """SNOMED 24288004 (cellulitis of ankle) sent without a display: the site comes from the code."""
    from support.builders import sct

    from fhir_mappings.infection import find_active_infections

    cellulitis = condition({"coding": [sct("24288004")]})
    [infection] = find_active_infections(patient_record(cellulitis), knowledge, TODAY)
    assert [set(site.regions) for site in infection.sites] == [{"LOWER_LIMB"}]


def test_a_block_of_one_category_is_a_valid_block(knowledge: Knowledge) -> None:
    """A site's value set may name a block of one category ("O00-O00", ectopic pregnancy): it is not
    malformed, and it matches that category only."""
    from fhir_mappings.valuesets import compile_value_set

    icd10cm = "http://hl7.org/fhir/sid/icd-10-cm"
    include = {"system": icd10cm, "filter": [{"property": "concept", "op": "is-a", "value": "O00-O00"}]}
    matcher = compile_value_set(
        {"resourceType": "ValueSet", "id": "one-block", "compose": {"include": [include]}}
    )
    assert matcher.match_concept(concept_of("O00.10"), knowledge.aliases)
    assert not matcher.match_concept(concept_of("O01.9"), knowledge.aliases)
