"""Indications: the order's own reason first, then the active problem list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings.chart_view import active_conditions, concept_facts
from fhir_mappings.codes import MAX_REMEMBERED_CHARS
from fhir_mappings.fhir_json import (
    as_list,
    as_object,
    as_text,
    codings,
    concept_label,
    reference_parts,
    relative_reference,
)
from fhir_mappings.findings import IndicationMatch
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.orders import DryNeedlingOrder
from fhir_mappings.records import (
    PatientRecord,
    is_excluded_verification,
)


@dataclass(frozen=True, slots=True)
class IndicationResult:
    """Matched indications, plus the reasons/problems that carried no recognised coding."""

    matches: tuple[IndicationMatch, ...]
    unrecognised: tuple[str, ...]


def find_indications(
    order: DryNeedlingOrder | None, record: PatientRecord, knowledge: Knowledge, now: date
) -> IndicationResult:
    """Match the order's reasonCode/reasonReference and the active problem list to indication keys.

    Text-only or uncoded reasons and problems are reported as unrecognised, never silently dropped.
    """
    matches: list[IndicationMatch] = []
    unrecognised: list[str] = []
    if order is not None:
        for concept in as_list(order.resource.get("reasonCode")):
            found = _match(concept, knowledge, "order reason", order.reference)
            matches.extend(found)
            if not found and not codings(concept):
                unrecognised.append(f"order reason '{concept_label(concept) or 'blank'}' (no code)")
        for reference in as_list(order.resource.get("reasonReference")):
            target = as_text((as_object(reference) or {}).get("reference")) or "blank"
            contained = _contained_condition(order.resource, target)
            parts = reference_parts(reference)
            condition = record.condition_by_id(parts[1]) if parts and parts[0] == "Condition" else contained
            if condition is None:
                unrecognised.append(f"order reason {target} (not in the patient data sent)")
            elif not is_excluded_verification(condition, knowledge.policy):
                # a Condition contained in the order is evidenced by the order itself
                source = order.reference if condition is contained else relative_reference(condition)
                matches.extend(_match(condition.get("code"), knowledge, "order reason", source))
    for condition in active_conditions(record, knowledge, now):
        concept = condition.get("code")
        found = _match(concept, knowledge, "problem list", relative_reference(condition))
        matches.extend(found)
        if not codings(concept):
            label = concept_label(concept)
            if label:
                unrecognised.append(f"problem '{label}' (no code)")
    return IndicationResult(tuple(_unique(matches)), tuple(dict.fromkeys(unrecognised)))


def _contained_condition(order: Mapping[str, Any], target: str) -> Mapping[str, Any] | None:
    """The Condition contained in the order that a local reference (``#id``) points to, if any."""
    if not target.startswith("#") or len(target) < 2:
        return None
    for resource in as_list(order.get("contained")):
        found = as_object(resource)
        if found and found.get("resourceType") == "Condition" and as_text(found.get("id")) == target[1:]:
            return found
    return None


def _match(concept: Any, knowledge: Knowledge, origin: str, reference: str | None) -> list[IndicationMatch]:
    """Indication keys for each coding; when a code falls in several keys, only the most specific ones
    count (M25.561 is knee pain, not the broader M25.5 joint pain of myofascial-pain)."""
    fallback_text = as_text(concept.get("text")) if isinstance(concept, Mapping) else None
    found: list[IndicationMatch] = []
    for coding in concept_facts(concept, knowledge).codings:  # systems canonical
        system = coding.system
        for key in _most_specific_indications(system, coding.code, knowledge):
            display = (
                coding.display
                or knowledge.value_set(f"indication-{key}").displays.get((system, coding.code))
                or fallback_text
            )
            found.append(IndicationMatch(key, system, coding.code, display, origin, reference))
    return found


def _most_specific_indications(system: str, code: str, knowledge: Knowledge) -> tuple[str, ...]:
    """The indication keys whose value set places the canonical ``system`` and ``code`` most specifically
    (in knowledge order; none when no indication value set places it). Remembered per knowledge (a short
    code: codes.MAX_REMEMBERED_CHARS)."""
    if len(system) + len(code) > MAX_REMEMBERED_CHARS:
        return _read_most_specific(system, code, knowledge)
    return knowledge.concept_memo.answer(
        ("most-specific-indications", system, code),
        lambda: _read_most_specific(system, code, knowledge),
    )


def _read_most_specific(system: str, code: str, knowledge: Knowledge) -> tuple[str, ...]:
    members = knowledge.terminology.value_sets_of(system, code)
    scored = [
        (knowledge.value_set(f"indication-{key}").specificity(system, code), key)
        for key in knowledge.indication_keys()
        if f"indication-{key}" in members  # the others score 0
    ]
    best = max((score for score, _ in scored), default=0)
    return tuple(key for score, key in scored if score == best) if best else ()


def _unique(matches: list[IndicationMatch]) -> list[IndicationMatch]:
    """Each indication key once per record: a Condition coded in both ICD-10-CM and SNOMED CT (M54.2 +
    81680005) is named once, by its first recognised coding, and the order reason comes before the problem
    list. A match without a record reference is kept once per code."""
    seen: set[tuple[str, ...]] = set()
    unique: list[IndicationMatch] = []
    for match in matches:
        key = (match.key, match.reference) if match.reference else (match.key, match.system, match.code)
        if key not in seen:
            seen.add(key)
            unique.append(match)
    return unique
