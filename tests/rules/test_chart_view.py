"""The per-request view (fhir_mappings/chart_view.py) and compiled terminology (fhir_mappings/terminology.py).

The rules decide "is this concept in these value sets" from the view. Its answers must be exactly those of the
value sets read directly (``ValueSetMatcher.match_concept``), for every value set of the rule base and every
concept of realistic charts, inside a hook call (remembered) and outside one (read afresh)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import pytest
from support.builders import concept, condition, icd, patient_record, sct
from support.clock import TODAY
from support.paths import ROOT

from cds_service.demo import load_demo_patients
from cds_service.patient_data import build_record
from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.chart_view import active_conditions, concept_facts, condition_index
from fhir_mappings.codes import ICD10CM, SNOMED
from fhir_mappings.fhir_json import read_once
from fhir_mappings.records import is_active_condition
from fhir_mappings.terminology import Terminology

sys.path.insert(0, str(ROOT / "scripts"))
from bench_charts import chart_patient

ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"


def _concepts(resource: Any) -> Iterator[Any]:
    """Every CodeableConcept-like object in a resource (any object with ``coding`` or ``text``)."""
    if isinstance(resource, Mapping):
        if "coding" in resource:
            yield resource
        for value in resource.values():
            yield from _concepts(value)
    elif isinstance(resource, list):
        for item in resource:
            yield from _concepts(item)


def _chart_concepts() -> list[Any]:
    resources = [r for patient in load_demo_patients(TODAY) for r in patient.resources]
    resources += list(chart_patient(200, TODAY).resources)
    return [found for resource in resources for found in _concepts(resource)]


def _direct_value_sets(code: Any, knowledge: Knowledge) -> frozenset[str]:
    return frozenset(
        value_set_id
        for value_set_id, matcher in knowledge.value_sets.items()
        if matcher.match_concept(code, knowledge.aliases)
    )


@pytest.mark.parametrize(
    "inside_a_call",
    [pytest.param(False, id="read afresh"), pytest.param(True, id="remembered per call")],
)
def test_the_view_places_every_chart_concept_in_exactly_the_value_sets_that_match_it(
    knowledge: Knowledge, inside_a_call: bool
) -> None:
    concepts = _chart_concepts()
    assert len(concepts) > 300  # demo patients + a generated 200-resource chart
    placed = 0
    with read_once() if inside_a_call else nullcontext():
        for code in concepts:
            facts = concept_facts(code, knowledge)
            direct = _direct_value_sets(code, knowledge)
            assert facts.value_sets == direct, code
            assert facts.has_known_code == bool(direct)
            placed += bool(direct)
    assert 50 < placed < len(concepts)  # both kinds are exercised


@pytest.mark.parametrize(
    ("code", "systems", "member_of", "not_member_of"),
    [
        (
            concept(icd("D66", "Hereditary factor VIII deficiency")),
            {ICD10CM},
            "bleeding-disorder",
            "systemic-infection",
        ),
        # an OID spelling of ICD-10-CM and a lower-case code: canonical system, normalised matching
        (concept(icd("d66", system=ICD10CM_OID)), {ICD10CM}, "bleeding-disorder", "pregnancy-condition"),
        (concept(sct("69500007")), {SNOMED}, "bleeding-disorder-snomed", "bleeding-disorder"),
    ],
)
def test_concept_facts_hold_canonical_codings_and_their_value_sets(
    knowledge: Knowledge, code: Any, systems: set[str], member_of: str, not_member_of: str
) -> None:
    facts = concept_facts(code, knowledge)

    assert facts.systems == systems
    assert all(coding.system in systems for coding in facts.codings)
    assert facts.in_any((not_member_of, member_of))
    assert not facts.in_any((not_member_of,))
    assert member_of in facts.value_sets
    assert facts.has_known_code


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(None, id="absent"),
        pytest.param({"text": "Hemophilia A"}, id="text only"),
        pytest.param(
            {"coding": [{"system": ICD10CM, "code": "I10"}]}, id="unplaced code"
        ),  # no value set places it
        pytest.param({"coding": [{"system": "urn:local", "code": "HEMO"}]}, id="local code"),
        pytest.param({"coding": [{"code": "D66"}]}, id="no system"),  # not a coding
        pytest.param("D66", id="a string"),  # malformed sender
    ],
)
def test_concepts_no_value_set_places_have_no_known_code(knowledge: Knowledge, code: Any) -> None:
    facts = concept_facts(code, knowledge)

    assert facts.value_sets == frozenset()
    assert not facts.has_known_code
    assert not facts.in_any(tuple(knowledge.value_sets))


def test_inside_a_call_facts_are_read_once_outside_read_afresh(knowledge: Knowledge) -> None:
    code: dict[str, Any] = {"coding": [{"system": ICD10CM, "code": "I10"}]}
    with read_once():
        before = concept_facts(code, knowledge)
        code["coding"][0]["code"] = "D66"  # nothing changes JSON inside a call: the first reading stands
        assert concept_facts(code, knowledge) is before
    assert "bleeding-disorder" in concept_facts(code, knowledge).value_sets  # outside: read afresh


def test_terminology_answers_every_value_set_at_once(knowledge: Knowledge) -> None:
    terminology = Terminology(dict(knowledge.value_sets))
    codes = [(ICD10CM, "D66"), (ICD10CM, "M5450"), (ICD10CM, "I10"), (SNOMED, "91302008"), ("urn:x", "1")]
    for system, code in codes:
        expected = {vs for vs, matcher in knowledge.value_sets.items() if matcher.contains(system, code)}
        assert terminology.value_sets_of(system, code) == expected
        assert terminology.value_sets_of(system, code) == expected  # remembered: same answer
        assert terminology.is_known_code(system, code) == bool(expected)
    assert terminology.is_known_code(ICD10CM, "D66")
    assert not terminology.is_known_code(ICD10CM, "I10")


def test_knowledge_with_other_value_sets_gets_its_own_terminology(knowledge: Knowledge) -> None:
    without = {k: v for k, v in knowledge.value_sets.items() if k != "bleeding-disorder"}
    narrowed = dataclasses.replace(knowledge, value_sets=without)

    assert "bleeding-disorder" in knowledge.terminology.value_sets_of(ICD10CM, "D66")
    assert "bleeding-disorder" not in narrowed.terminology.value_sets_of(ICD10CM, "D66")


def test_active_conditions_are_the_active_ones_in_record_order_for_the_day_asked(
    knowledge: Knowledge,
) -> None:
    ongoing = condition(concept(icd("D66")), id="ongoing")
    ends_tomorrow = condition(concept(sct("91302008")), id="ends", abatement=TODAY + timedelta(days=1))
    refuted = condition(concept(icd("D67")), id="refuted", verification_status="refuted")
    record = patient_record(ends_tomorrow, refuted, ongoing)

    with read_once():
        today = active_conditions(record, knowledge, TODAY)
        later = active_conditions(record, knowledge, TODAY + timedelta(days=2))

    assert [c["id"] for c in today] == ["ends", "ongoing"]
    assert [c["id"] for c in later] == ["ongoing"]
    assert list(today) == [c for c in record.conditions if is_active_condition(c, TODAY, knowledge.policy)]


@pytest.mark.parametrize("size", [10, 200])
def test_a_generated_chart_is_judged_the_same_inside_and_outside_a_call(
    knowledge: Knowledge, size: int
) -> None:
    patient = chart_patient(size, TODAY)
    record = build_record(patient.patient_id, patient.resources)
    drafts = {"resourceType": "Bundle", "entry": [{"resource": r} for r in patient.draft_orders]}
    orders = find_dry_needling_orders(drafts, knowledge)

    plain = evaluate_orders(orders, record, knowledge, TODAY, drafts)
    with read_once():
        remembered = evaluate_orders(orders, record, knowledge, TODAY, drafts)

    assert remembered == plain
    assert {f.code for f in plain} >= set(patient.expected_findings)


def test_the_condition_index_selects_coded_and_named_conditions_in_record_order(knowledge: Knowledge) -> None:
    named = condition(concept(text="Hemophilia A"), id="named")
    coded = condition(concept(icd("D66", "Hereditary factor VIII deficiency")), id="coded")
    # a code some value set places: judged by its code, its words are not read
    coded_elsewhere = condition(concept(icd("M54.50"), text="Hemophilia A"), id="elsewhere")
    unplaced = condition(concept(icd("I10"), text="Essential hypertension"), id="unplaced")
    resolved = condition(concept(icd("D67")), id="resolved", clinical_status="resolved")
    refuted = condition(concept(icd("D68.0")), id="refuted", verification_status="refuted")
    record = patient_record(named, coded, coded_elsewhere, unplaced, resolved, refuted)
    index = condition_index(record, knowledge, TODAY)

    def ids(found: tuple[Mapping[str, Any], ...]) -> list[str]:
        return [c["id"] for c in found]

    assert ids(index.select(("bleeding-disorder",), ("bleeding-disorder",))) == ["named", "coded"]
    assert ids(index.select(("bleeding-disorder",))) == ["coded"]  # by code only
    assert ids(index.select((), ("bleeding-disorder",))) == ["named"]  # by name only
    assert ids(index.select(("bleeding-disorder",), active_only=False)) == ["coded", "resolved", "refuted"]
    assert ids(index.select(("no-such-value-set",), ("systemic-infection",))) == []
    # no ICD-10-CM / SNOMED CT coding: the text-only one and the local code (read by their words)
    local = condition(concept({"system": "urn:local", "code": "X1"}, text="Hemophilia A"), id="local")
    with_local = condition_index(patient_record(named, coded, local, unplaced), knowledge, TODAY)
    assert ids(with_local.select((), no_coding_from=(ICD10CM, SNOMED))) == ["named", "local"]
    assert ids(with_local.select(("bleeding-disorder",), no_coding_from=(ICD10CM, SNOMED))) == [
        "named",
        "coded",
        "local",
    ]
    assert index.active == (True, True, True, True, False, False)


def test_the_condition_index_is_built_once_per_call_and_afresh_outside(knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd("D66")), id="coded"))
    with read_once():
        first = condition_index(record, knowledge, TODAY)
        assert condition_index(record, knowledge, TODAY) is first
        assert condition_index(record, knowledge, TODAY + timedelta(days=1)) is not first  # another day
    assert condition_index(record, knowledge, TODAY) is not condition_index(record, knowledge, TODAY)


# Concepts the content memo must tell apart: the same codings but values equal in Python and not in FHIR
# (1 == 1.0 == True), other displays, other texts, other shapes.
_LOOK_ALIKE_CONCEPTS: list[Any] = [
    {"coding": [{"system": ICD10CM, "code": "D66"}]},
    {"coding": [{"system": ICD10CM, "code": "D66", "display": "Hemophilia A"}]},
    {"coding": [{"system": ICD10CM, "code": "D66 "}]},
    {"coding": [{"system": ICD10CM + "/", "code": "D66"}]},
    {"coding": [{"system": "urn:x", "code": 1}]},
    {"coding": [{"system": "urn:x", "code": True}]},
    {"coding": [{"system": "urn:x", "code": 1.0}]},
    {"coding": [{"system": "urn:x", "code": "1"}]},
    {"coding": [{"system": "urn:local", "code": "H"}], "text": "Hemophilia A"},
    {"coding": [{"system": "urn:local", "code": "H"}], "text": "History of hemophilia A"},
    {"coding": [{"system": "urn:local", "code": "H"}], "text": "Cellulitis of left leg"},
    {"coding": [{"system": "urn:local", "code": "H", "display": "Hemophilia A"}]},
    {"coding": [{"system": "urn:local", "code": "H", "display": "Hemophilia A"}], "text": 7},
    {"coding": [{"system": ICD10CM, "code": "D66"}, {"system": SNOMED, "code": "28293008"}]},
    {"coding": [{"system": ICD10CM, "code": "D66"}, {"code": "x"}]},
    {"coding": {"system": ICD10CM, "code": "D66"}},  # one coding object, not an array: read afresh
    {"coding": [{"system": ICD10CM, "code": ["D66"]}]},  # unhashable: read afresh
    {"coding": [{"system": ICD10CM, "code": f"D6{n}"} for n in range(6)]},  # many codings: read afresh
    {"text": "Hemophilia A"},
    {"text": "Hemophilia A", "coding": []},
]


def test_the_content_memo_answers_exactly_what_a_fresh_reading_does(knowledge: Knowledge) -> None:
    """Facts and named conditions are remembered across calls by the codings' (and text's) raw values and
    types: every look-alike concept gets its own reading, in any order, on a knowledge with an empty memo."""
    from fhir_mappings.chart_view import _named_value_sets, _read_facts, _read_named_value_sets

    fresh = dataclasses.replace(knowledge)  # its own, empty memo
    expected = [
        (_read_facts(code, fresh), _read_named_value_sets(code, fresh)) for code in _LOOK_ALIKE_CONCEPTS
    ]
    assert len({facts for facts, _ in expected}) >= 8  # the look-alikes read differently
    assert {named for _, named in expected} >= {(), ("bleeding-disorder",)}
    for order in (_LOOK_ALIKE_CONCEPTS, list(reversed(_LOOK_ALIKE_CONCEPTS)), _LOOK_ALIKE_CONCEPTS):
        got = {id(code): (concept_facts(code, fresh), _named_value_sets(code, fresh)) for code in order}
        assert [got[id(code)] for code in _LOOK_ALIKE_CONCEPTS] == expected


def test_the_content_memo_is_bounded_and_answers_after_forgetting() -> None:
    from fhir_mappings.terminology import ContentMemo

    memo = ContentMemo(limit=3)
    computed: list[int] = []

    def square(n: int) -> int:
        computed.append(n)
        return n * n

    for n in [*range(10), 9, 8]:
        assert memo.answer(("square", n), lambda n=n: square(n)) == n * n
        assert len(memo._answers) <= 3
    assert computed == [*range(10), 8]  # 9 was still remembered; 8 was forgotten with the rest at the limit


def test_forgetting_remembered_answers_empties_every_content_memo(knowledge: Knowledge) -> None:
    """What scripts/mutate.py calls before each test: the next question is answered afresh, the same."""
    from fhir_mappings.terminology import forget_remembered_answers

    fresh = dataclasses.replace(knowledge)
    code = concept(icd("D66"))
    before = concept_facts(code, fresh)
    assert fresh.concept_memo._answers

    forget_remembered_answers()

    assert not fresh.concept_memo._answers and not knowledge.concept_memo._answers
    assert concept_facts(code, fresh) == before


def test_a_knowledge_with_other_value_sets_reads_words_by_its_own_codes(knowledge: Knowledge) -> None:
    """The free-text rules read a concept's words only when no value set places its codes: the value sets of
    the knowledge asking (a replaced knowledge's own), not those of the files first loaded."""
    from fhir_mappings.chart_view import _read_named_value_sets

    code = concept(icd("D66"), text="Hemophilia A")
    without = {k: v for k, v in knowledge.value_sets.items() if not v.contains(ICD10CM, "D66")}
    narrowed = dataclasses.replace(knowledge, value_sets=without)

    assert _read_named_value_sets(code, knowledge) == ()  # D66 is placed: judged by its code
    assert "bleeding-disorder" in _read_named_value_sets(code, narrowed)  # no value set places it: its words


def test_long_strings_are_answered_but_never_remembered(knowledge: Knowledge) -> None:
    """A hostile body's long codes, systems, displays and texts would otherwise stay in memos that outlive
    the call (each memo is bounded in entries, not in bytes): they are read afresh every time, with the same
    answer a short key gets."""
    from fhir_mappings.chart_view import _named_value_sets, _read_facts, _read_named_value_sets
    from fhir_mappings.indications import _most_specific_indications

    fresh = dataclasses.replace(knowledge)
    long_code, long_system = "QQ" + "9" * 2000, "urn:x:" + "s" * 2000  # codes no value set places
    concepts = [
        {"coding": [{"system": ICD10CM, "code": "D66", "display": "Hemophilia A " + "x" * 2000}]},
        {"coding": [{"system": ICD10CM, "code": long_code}], "text": "Hemophilia A"},
        {"coding": [{"system": long_system, "code": "H"}], "text": "Hemophilia A"},
        {"coding": [{"system": "urn:local", "code": "H"}], "text": "Hemophilia A " + "y" * 2000},
    ]
    for code in concepts:
        assert concept_facts(code, fresh) == _read_facts(code, fresh)
        assert _named_value_sets(code, fresh) == _read_named_value_sets(code, fresh)
    assert "bleeding-disorder" in concept_facts(concepts[0], fresh).value_sets
    assert (
        _named_value_sets(concepts[1], fresh)
        == _named_value_sets(concepts[2], fresh)
        == ("bleeding-disorder",)
    )
    assert _most_specific_indications(ICD10CM, long_code, fresh) == ()
    assert not fresh.terminology._memo.keys() & {(ICD10CM, long_code), (long_system, "H")}
    assert long_system not in fresh.aliases._answers
    assert all((ICD10CM, long_code) not in matcher._memo for matcher in fresh.value_sets.values())

    remembered = _strings_in(list(fresh.concept_memo._answers.items()))
    assert remembered  # the codes of the last concept (its long text is not remembered)
    assert max(map(len, remembered)) < 100


def _strings_in(value: Any) -> list[str]:
    """Every string in ``value`` (tuples, lists, dicts, dataclasses, frozensets), however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for key, item in value.items() for s in _strings_in(key) + _strings_in(item)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for field in dataclasses.fields(value) for s in _strings_in(getattr(value, field.name))]
    if isinstance(value, tuple | list | frozenset | set):
        return [s for item in value for s in _strings_in(item)]
    return []


def test_nothing_of_the_charts_words_is_remembered_beyond_the_call(knowledge: Knowledge) -> None:
    """The memo that outlives a call keys and answers by codes, systems, value-set ids and digests: the
    displays and texts of a chart (which may hold anything a clinician typed) are not kept (SECURITY.md 9)."""
    fresh = dataclasses.replace(knowledge)
    words = ["Secret display of a placed code", "Secret text naming hemophilia A", "Secret local display"]
    conditions = [
        condition(concept(icd("D66", words[0])), id="coded"),
        condition(concept({"system": "urn:local", "code": "H"}, text=words[1]), id="named"),
        condition(concept({"system": "urn:local", "code": "K", "display": words[2]}), id="local"),
    ]
    record = patient_record(*conditions)
    for _ in range(2):  # the second call is answered from the memo
        with read_once():
            index = condition_index(record, fresh, TODAY)
            assert [c["id"] for c in index.select(("bleeding-disorder",), ("bleeding-disorder",))] == [
                "coded",
                "named",
            ]
            assert concept_facts(conditions[0]["code"], fresh).codings[0].display == words[0]

    remembered = " ".join(_strings_in(list(fresh.concept_memo._answers.items())))
    assert "D66" in remembered and "urn:local" in remembered
    assert not any(word.split()[0] in remembered for word in words)


@pytest.mark.parametrize(
    ("extra", "remembered"),
    [pytest.param(0, True, id="at the limit: remembered"), pytest.param(1, False, id="one more: afresh")],
)
def test_the_memo_length_limit_is_exact(knowledge: Knowledge, extra: int, remembered: bool) -> None:
    """Keys of exactly codes.MAX_REMEMBERED_CHARS characters are remembered, longer ones never (each memo)."""
    from fhir_mappings.chart_view import _codes_key, _content_key
    from fhir_mappings.codes import MAX_REMEMBERED_CHARS, SystemAliases
    from fhir_mappings.indications import _most_specific_indications

    limit = MAX_REMEMBERED_CHARS + extra
    system = "urn:x:" + "s" * (limit - len("urn:x:") - 2)
    code = "QQ"  # system + code: ``limit`` characters; no value set places it
    aliases = SystemAliases({})
    aliases.canonical(system + "cc")
    assert (system + "cc" in aliases._answers) is remembered

    fresh = dataclasses.replace(knowledge)
    assert fresh.terminology.value_sets_of(system, code) == frozenset()
    assert ((system, code) in fresh.terminology._memo) is remembered
    matcher = fresh.value_sets["bleeding-disorder"]
    assert matcher.specificity(system, code) == 0
    assert ((system, code) in matcher._memo) is remembered
    assert _most_specific_indications(system, code, fresh) == ()
    assert (("most-specific-indications", system, code) in fresh.concept_memo._answers) is remembered

    text = "Hemophilia A"
    display = "d" * (limit - len("urn:local") - len("H") - len(text))  # all strings: ``limit`` characters
    coded = {"coding": [{"system": "urn:local", "code": "H", "display": display}], "text": text}
    assert (_content_key(coded, text) is not None) is remembered
    assert _content_key(coded) is not None  # without the text: under the limit either way
    coded_only = {"coding": [{"system": system, "code": code, "display": "not counted"}]}
    assert (_codes_key(coded_only) is not None) is remembered  # systems and codes only
