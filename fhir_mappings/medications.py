"""Antithrombotic therapy (precaution): current anticoagulant or antiplatelet medications, or Z79.01/Z79.02.

A medication counts when its MedicationRequest/MedicationStatement status is one the policy calls current
and it carries an RxNorm code of an antithrombotic ingredient (ingredient or clinical-drug code). With no
such code, the ingredient and brand names are read in the medication's text and displays; a match by name
is flagged, so the clinician knows the code did not say it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from fhir_mappings.chart_view import concept_facts, condition_index
from fhir_mappings.codes import normalise_icd10cm
from fhir_mappings.fhir_json import (
    as_list,
    as_object,
    as_text,
    concept_label,
    concept_texts,
    parse_date,
    reference_parts,
    relative_reference,
)
from fhir_mappings.findings import Evidence
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.records import PatientRecord, condition_date
from fhir_mappings.risk_knowledge import Antithrombotic
from fhir_mappings.valuesets import ValueSetMatcher

MatchedBy = Literal["code", "name", "condition"]
_MAX_NAME_TEXT = 512  # medication text longer than this is not a drug name; only its start is read


@dataclass(frozen=True, slots=True)
class AntithromboticUse:
    """One record showing current antithrombotic therapy."""

    evidence: Evidence
    drug: str  # the ingredient ("warfarin") or, for a Z79 code, its label
    matched_by: MatchedBy
    ingredient: str | None = None  # the ingredient key ("warfarin"); None for a class-only Z79 code
    drug_class: str | None = None  # "anticoagulant" | "antiplatelet"; None when the code does not say


def current_medications(
    record: PatientRecord, knowledge: Knowledge, now: date
) -> Iterator[tuple[Mapping[str, Any], str, list[Any]]]:
    """Every current medication record with its status and drug concepts: MedicationRequest/Statement with a
    status the policy calls current (or a completed one whose therapy period still runs), and the
    MedicationRequests ordered together with the needling (status "being ordered now")."""
    policy = knowledge.policy
    for resource, statuses in (
        *((r, policy.medication_request_active_statuses) for r in record.medication_requests),
        *((r, policy.medication_statement_active_statuses) for r in record.medication_statements),
    ):
        status = (as_text(resource.get("status")) or "").lower()
        if resource.get("doNotPerform") is True:
            continue
        period_decides = status in policy.medication_current_while_period_runs_statuses
        if status not in statuses and not (period_decides and _therapy_runs_past(resource, now)):
            continue
        yield resource, status, list(_medication_concepts(resource, record))
    for draft in record.draft_medication_requests:  # ordered together with the needling: about to start
        if draft.get("doNotPerform") is not True:
            yield draft, "being ordered now", list(_medication_concepts(draft, record))


def find_antithrombotic_therapy(
    record: PatientRecord, knowledge: Knowledge, now: date
) -> list[AntithromboticUse]:
    """Current antithrombotic medications (by code, else by name) and active Z79.01/Z79.02(/Z79.82) codes."""
    policy = knowledge.policy
    ingredients = [
        i
        for i in knowledge.antithrombotics.ingredients
        if i.key not in policy.antithrombotic_excluded_ingredients
    ]
    uses: list[AntithromboticUse] = []
    searched = [(i, _ingredient_value_set_ids(i, knowledge)) for i in ingredients]
    for resource, status, concepts in current_medications(record, knowledge, now):
        use = _medication_use(resource, status, concepts, searched, knowledge)
        if use is not None:
            uses.append(use)
    uses.extend(_condition_uses(record, ingredients, knowledge, now))
    return uses


def _medication_use(
    resource: Mapping[str, Any],
    status: str,
    concepts: list[Any],
    searched: list[tuple[Antithrombotic, tuple[str, ...]]],
    knowledge: Knowledge,
) -> AntithromboticUse | None:
    """The first ingredient (in knowledge order) a concept is coded as, else named in a text.
    ``searched``: the ingredients with the ids of their value sets."""
    coded = [(concept, concept_facts(concept, knowledge)) for concept in concepts]
    # a concept no value set places (most drugs on a chart) cannot be coded as any ingredient
    coded = [(concept, facts) for concept, facts in coded if facts.has_known_code]
    for ingredient, value_set_ids in searched:
        for concept, facts in coded:
            if not facts.in_any(value_set_ids):
                continue
            matches = [
                match
                for value_set in _ingredient_value_sets(ingredient, knowledge)
                for match in value_set.match_concept(concept, knowledge.aliases)
            ]
            if matches:
                label = concept_label(concept) or matches[0].display or matches[0].code
                codes = ", ".join(f"RxNorm {m.code}" for m in matches)
                description = f"{label} ({codes}), {status}"
                return _use(resource, ingredient, description, "code")
    allowed = {i.key for i, _ in searched}
    for text in _medication_texts(resource, concepts):
        for match in knowledge.antithrombotics.name_pattern.finditer(text):
            key = knowledge.antithrombotics.ingredient_by_name[match.group(0).lower()]
            if key in allowed:
                ingredient = knowledge.antithrombotics.ingredient(key)
                description = f"'{text}', {status}: matched by the name '{match.group(0)}', not by a code"
                return _use(resource, ingredient, description, "name")
    return None


def _ingredient_value_set_ids(ingredient: Antithrombotic, knowledge: Knowledge) -> tuple[str, ...]:
    """The ids of :func:`_ingredient_value_sets`."""
    return tuple(matcher.value_set_id for matcher in _ingredient_value_sets(ingredient, knowledge))


def _ingredient_value_sets(ingredient: Antithrombotic, knowledge: Knowledge) -> list[ValueSetMatcher]:
    """The ingredient's own value set and its generated VSAC product set (``<value_set>-products`` or
    ``antithrombotic-<key>-products``, valuesets/vsac.json), when there is one."""
    ids = dict.fromkeys((ingredient.value_set, f"antithrombotic-{ingredient.key}-products"))
    return [knowledge.value_sets[vs_id] for vs_id in ids if vs_id in knowledge.value_sets]


def _use(
    resource: Mapping[str, Any], ingredient: Antithrombotic, description: str, matched_by: MatchedBy
) -> AntithromboticUse:
    when = _medication_date(resource)
    since = f", recorded {when.isoformat()}" if when else ""
    drug = ingredient.display
    return AntithromboticUse(
        Evidence(relative_reference(resource), f"{description}{since}", when, drug),
        drug,
        matched_by,
        ingredient.key,
        ingredient.drug_class,
    )


def _medication_concepts(resource: Mapping[str, Any], record: PatientRecord) -> Iterator[Any]:
    """``medicationCodeableConcept``, and the code of the Medication that ``medicationReference`` points to:
    a contained one (``#id``) or one sent in the patient data (``Medication/id``)."""
    if resource.get("medicationCodeableConcept") is not None:
        yield resource["medicationCodeableConcept"]
    reference = as_text((as_object(resource.get("medicationReference")) or {}).get("reference"))
    if not reference:
        return
    if reference.startswith("#"):
        candidates = [as_object(c) or {} for c in as_list(resource.get("contained"))]
        wanted = reference[1:]
    else:
        parts = reference_parts(reference)
        if parts is None or parts[0] != "Medication":
            return
        candidates, wanted = list(record.medications), parts[1]
    for medication in candidates:
        if medication.get("resourceType") == "Medication" and str(medication.get("id")) == wanted:
            yield medication.get("code")
            return


def _medication_texts(resource: Mapping[str, Any], concepts: list[Any]) -> list[str]:
    """Texts to read names in: each concept's text and coding displays, and the reference's display."""
    texts: list[str] = []
    for concept in concepts:
        texts += [t[:_MAX_NAME_TEXT] for t in concept_texts(concept)]
    display = as_text((as_object(resource.get("medicationReference")) or {}).get("display"))
    if display:
        texts.append(display[:_MAX_NAME_TEXT])
    return list(dict.fromkeys(texts))


def _therapy_runs_past(resource: Mapping[str, Any], now: date) -> bool:
    """True when a record marked ``completed`` still says the drug is taken after ``now``.

    Some EHRs mark an outpatient prescription ``completed`` once it is sent to the pharmacy, while the
    patient keeps taking the drug; a MedicationStatement may be ``completed`` with an effective period that
    ends in the future. The therapy period the record itself gives decides (the safe reading): the
    statement's ``effectivePeriod.end`` or a dosage's ``timing.repeat.boundsPeriod.end`` on or after ``now``.
    """
    ends = [(as_object(resource.get("effectivePeriod")) or {}).get("end")]
    for dosage in as_list(resource.get("dosageInstruction")) + as_list(resource.get("dosage")):
        repeat = as_object((as_object((as_object(dosage) or {}).get("timing")) or {}).get("repeat")) or {}
        ends.append((as_object(repeat.get("boundsPeriod")) or {}).get("end"))
    return any(end is not None and end >= now for end in (parse_date(e, "latest") for e in ends))


def _medication_date(resource: Mapping[str, Any]) -> date | None:
    period = as_object(resource.get("effectivePeriod")) or {}
    for value in (
        resource.get("authoredOn"),
        resource.get("effectiveDateTime"),
        period.get("start"),
        resource.get("dateAsserted"),
    ):
        parsed = parse_date(value)
        if parsed:
            return parsed
    return None


def _condition_uses(
    record: PatientRecord, ingredients: list[Antithrombotic], knowledge: Knowledge, now: date
) -> Iterator[AntithromboticUse]:
    value_sets: list[tuple[str, Antithrombotic | None]] = [
        (knowledge.antithrombotics.condition_value_set, None)
    ]
    value_sets += [(i.condition_value_set, i) for i in ingredients if i.condition_value_set]
    classes = knowledge.antithrombotics.condition_classes
    value_set_ids = [value_set_id for value_set_id, _ in value_sets]
    for condition in condition_index(record, knowledge, now).select(value_set_ids):
        for value_set_id, ingredient in value_sets:
            matches = knowledge.value_set(value_set_id).match_concept(
                condition.get("code"), knowledge.aliases
            )
            if matches:
                label = concept_label(condition.get("code")) or matches[0].display or matches[0].code
                recorded = condition_date(condition)
                since = f", since {recorded.isoformat()}" if recorded else ""
                codes = ", ".join(m.code for m in matches)
                drug_class = (
                    ingredient.drug_class if ingredient else classes.get(normalise_icd10cm(matches[0].code))
                )
                yield AntithromboticUse(
                    Evidence(relative_reference(condition), f"{label} ({codes}){since}", recorded, label),
                    label,
                    "condition",
                    ingredient.key if ingredient else None,
                    drug_class,
                )
                break
