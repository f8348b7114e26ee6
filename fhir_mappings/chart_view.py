"""The per-request normalised view of the chart: each CodeableConcept read once, queried by every rule.

For one concept, :func:`concept_facts` gives its codings with canonical systems and the ids of every value set
of the rule base that places any of them (compiled terminology, :mod:`fhir_mappings.terminology`). Inside
``fhir_json.read_once`` (a hook call) this is worked out once per concept and remembered; the rules then
decide with set operations ("is this concept in any of these value sets") and only read the detailed
matches (codes, displays) of the concepts that are members. Outside ``read_once`` every call reads afresh:
same answers, no memory.

:func:`condition_index` indexes the record's Conditions once per request by those value sets, by the
conditions their words name (``condition_text``) and by their code systems: a rule reads only its candidates.

The clinical meaning stays with the value sets (``ValueSetMatcher``) and the rules: a concept is in
``value_sets`` exactly when ``matcher.match_concept`` would return at least one match, and a Condition left
out of a selection is one the rule would have passed over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from fhir_mappings.codes import MAX_REMEMBERED_CHARS
from fhir_mappings.condition_text import asserting_texts, match_texts
from fhir_mappings.fhir_json import CodingValue, as_text, coding_identity, codings, remembered
from fhir_mappings.records import PatientRecord, is_active_condition

if TYPE_CHECKING:
    from fhir_mappings.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class ConceptFacts:
    """One CodeableConcept as the rules see it."""

    codings: tuple[CodingValue, ...]  # every coding with a system and a code; systems made canonical
    systems: frozenset[str]  # the canonical systems of those codings
    value_sets: frozenset[str]  # ids of the value sets that place at least one coding

    def in_any(self, value_set_ids: Collection[str]) -> bool:
        """True when some value set of ``value_set_ids`` places the concept."""
        return not self.value_sets.isdisjoint(value_set_ids)

    @property
    def has_known_code(self) -> bool:
        """True when some value set of the rule base places a coding (the concept is judged by its codes,
        not its words)."""
        return bool(self.value_sets)


_NO_FACTS = ConceptFacts((), frozenset(), frozenset())


def concept_facts(concept: Any, knowledge: Knowledge) -> ConceptFacts:
    """The facts of ``concept`` (remembered per request inside ``fhir_json.read_once``)."""
    if concept is None:
        return _NO_FACTS
    return remembered(concept, ("concept-facts", id(knowledge)), lambda: _facts(concept, knowledge))


_MAX_REMEMBERED_CODINGS = 4  # concepts with more codings are rare: read afresh, not remembered


@dataclass(frozen=True, slots=True)
class _CodedFacts:
    """What the facts of a concept owe to its codes alone: which codings count (their positions) with their
    canonical systems and codes, and the value sets placing them. No display, no text: nothing of the chart's
    words is kept beyond the call."""

    codings: tuple[tuple[int, str, str], ...]
    systems: frozenset[str]
    value_sets: frozenset[str]


def _facts(concept: Any, knowledge: Knowledge) -> ConceptFacts:
    """The facts of ``concept``. The part its codes decide is remembered across calls
    (``knowledge.concept_memo``), keyed by the systems and codes exactly as sent (what the terminology's own
    memo keeps); the displays are read from this concept. Another shape, or long codes: read afresh."""
    key = _codes_key(concept)
    if key is None:
        return _read_facts(concept, knowledge)
    coded = knowledge.concept_memo.answer(("coded", key), lambda: _read_coded(concept, knowledge))
    raw = concept["coding"]
    read = tuple(
        CodingValue(system, code, as_text(raw[i].get("display"))) for i, system, code in coded.codings
    )
    return ConceptFacts(read, coded.systems, coded.value_sets)


def _codes_key(concept: Any) -> tuple[Any, ...] | None:
    """The systems and codes of the concept's codings exactly as sent, with their JSON types (1, 1.0 and
    true read differently); ``None`` for another shape (a single coding object, a non-object coding, a value
    that is no JSON scalar, many codings) or strings too long to remember (codes.MAX_REMEMBERED_CHARS)."""
    raw = concept.get("coding") if type(concept) is dict else None
    if type(raw) is not list or len(raw) > _MAX_REMEMBERED_CODINGS:
        return None
    key: list[Any] = []
    chars = 0
    for coding in raw:
        if type(coding) is not dict:
            return None
        system, code = coding.get("system"), coding.get("code")
        if not (_is_scalar(system) and _is_scalar(code)):
            return None
        chars += _chars(system) + _chars(code)
        key += (system, type(system), code, type(code))
    return tuple(key) if chars <= MAX_REMEMBERED_CHARS else None


def _read_coded(concept: Any, knowledge: Knowledge) -> _CodedFacts:
    canonical = knowledge.aliases.canonical
    value_sets_of = knowledge.terminology.value_sets_of
    found: list[tuple[int, str, str]] = []
    for position, coding in enumerate(concept["coding"]):
        identity = coding_identity(coding)
        if identity is not None:
            found.append((position, canonical(identity[0]), identity[1]))
    members: frozenset[str] = frozenset().union(*(value_sets_of(system, code) for _, system, code in found))
    return _CodedFacts(tuple(found), frozenset(system for _, system, _ in found), members)


def _content_key(concept: Any, text: Any = None) -> bytes | None:
    """A digest of the raw content of the concept's codings (system, code and display of each, exactly as
    sent, with their JSON types: 1, 1.0 and true read differently) and of ``text`` when given: a memo key
    that holds none of the chart's words. ``None`` when the concept is not in the usual shape (a single coding
    object, a non-object coding, a value that is no JSON scalar, many codings) or its strings are too long to
    remember (codes.MAX_REMEMBERED_CHARS): such a concept is read afresh."""
    raw = concept.get("coding") if type(concept) is dict else None
    if type(raw) is not list or len(raw) > _MAX_REMEMBERED_CODINGS or not _is_scalar(text):
        return None
    parts: list[Any] = [text, type(text).__name__]
    chars = _chars(text)
    for coding in raw:
        if type(coding) is not dict:
            return None
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if not (_is_scalar(system) and _is_scalar(code) and _is_scalar(display)):
            return None
        chars += _chars(system) + _chars(code) + _chars(display)
        parts += (system, type(system).__name__, code, type(code).__name__, display, type(display).__name__)
    if chars > MAX_REMEMBERED_CHARS:
        return None
    return hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _is_scalar(value: Any) -> bool:
    return value is None or type(value) in _SCALARS


def _chars(value: Any) -> int:
    return len(value) if type(value) is str else 0


_SCALARS = frozenset({str, int, float, bool})


def _read_facts(concept: Any, knowledge: Knowledge) -> ConceptFacts:
    canonical = knowledge.aliases.canonical
    value_sets_of = knowledge.terminology.value_sets_of
    read = tuple(CodingValue(canonical(c.system), c.code, c.display) for c in codings(concept))
    members: frozenset[str] = frozenset().union(*(value_sets_of(c.system, c.code) for c in read))
    return ConceptFacts(read, frozenset(c.system for c in read), members)


def _named_value_sets(concept: Any, knowledge: Knowledge) -> tuple[str, ...]:
    """The value sets whose condition the concept's words name (``condition_text.match_condition_text``),
    from ``knowledge.concept_memo`` when a concept with the same codings and text was read before."""
    key = _content_key(concept, concept.get("text")) if type(concept) is dict else None
    if key is None:
        return _read_named_value_sets(concept, knowledge)
    return knowledge.concept_memo.answer(
        ("named-value-sets", key), lambda: _read_named_value_sets(concept, knowledge)
    )


def _read_named_value_sets(concept: Any, knowledge: Knowledge) -> tuple[str, ...]:
    text = knowledge.condition_text
    texts = asserting_texts(concept, text, knowledge.aliases)
    if not texts:  # a coded concept, or words that assert nothing: named as no condition
        return ()
    return tuple(vs for vs in text.names_by_value_set if match_texts(texts, vs, text) is not None)


def active_conditions(
    record: PatientRecord, knowledge: Knowledge, now: date
) -> tuple[Mapping[str, Any], ...]:
    """The record's active Conditions (``records.is_active_condition``), in record order; remembered per
    request."""
    policy = knowledge.policy
    return remembered(
        record,
        ("active-conditions", now, id(policy)),
        lambda: tuple(c for c in record.conditions if is_active_condition(c, now, policy)),
    )


@dataclass(frozen=True, slots=True)
class ConditionIndex:
    """The record's Conditions indexed by what the rules ask of them: the value sets that place their code,
    and (for a code no value set places) the value sets whose condition their words name
    (``condition_text.match_condition_text``). Positions are in record order."""

    conditions: tuple[Mapping[str, Any], ...]
    active: tuple[bool, ...]  # records.is_active_condition, per position
    by_value_set: Mapping[str, tuple[int, ...]]
    by_name: Mapping[str, tuple[int, ...]]
    systems: tuple[frozenset[str], ...] = ()  # the canonical systems of each Condition's codings

    def select(
        self,
        value_set_ids: Collection[str],
        named: Collection[str] = (),
        *,
        active_only: bool = True,
        no_coding_from: Collection[str] = (),
    ) -> tuple[Mapping[str, Any], ...]:
        """The Conditions coded in one of ``value_set_ids``, named as one of ``named``, or (when
        ``no_coding_from`` names systems) without a coding from any of those systems, in record order (only
        the active ones unless ``active_only`` is false). Every other Condition is one those rules would pass
        over: no code of theirs and not named in words they read."""
        positions: set[int] = set()
        for value_set_id in value_set_ids:
            positions.update(self.by_value_set.get(value_set_id, ()))
        for value_set_id in named:
            positions.update(self.by_name.get(value_set_id, ()))
        if no_coding_from:
            positions.update(
                i for i, systems in enumerate(self.systems) if systems.isdisjoint(no_coding_from)
            )
        active = self.active
        return tuple(self.conditions[i] for i in sorted(positions) if active[i] or not active_only)


def condition_index(record: PatientRecord, knowledge: Knowledge, now: date) -> ConditionIndex:
    """The :class:`ConditionIndex` of the record (built once per request inside ``fhir_json.read_once``)."""
    return remembered(
        record, ("condition-index", now, id(knowledge)), lambda: _index_conditions(record, knowledge, now)
    )


def _index_conditions(record: PatientRecord, knowledge: Knowledge, now: date) -> ConditionIndex:
    by_value_set: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    systems: list[frozenset[str]] = []
    for position, condition in enumerate(record.conditions):
        code = condition.get("code")
        facts = concept_facts(code, knowledge)
        systems.append(facts.systems)
        for value_set_id in facts.value_sets:
            by_value_set.setdefault(value_set_id, []).append(position)
        # a concept some value set places is judged by its code: its words are not read (asserting_texts)
        for value_set_id in () if facts.has_known_code else _named_value_sets(code, knowledge):
            by_name.setdefault(value_set_id, []).append(position)
    policy = knowledge.policy
    return ConditionIndex(
        record.conditions,
        tuple(is_active_condition(c, now, policy) for c in record.conditions),
        {key: tuple(found) for key, found in by_value_set.items()},
        {key: tuple(found) for key, found in by_name.items()},
        tuple(systems),
    )
