"""Local infection: active skin/soft-tissue infections and how close they are to the needling site."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings.body_regions import BodySite, SiteRelation, condition_sites, relate_sites
from fhir_mappings.chart_view import concept_facts, condition_index
from fhir_mappings.condition_text import match_condition_text
from fhir_mappings.fhir_json import concept_label, relative_reference, status_code
from fhir_mappings.findings import Evidence
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.records import (
    CONDITION_CLINICAL_SYSTEM,
    PatientRecord,
    condition_date,
    is_encounter_diagnosis,
)

INFECTION_VALUE_SET = "skin-soft-tissue-infection"
CHRONIC_INFECTION_VALUE_SET = "chronic-site-infection"
_CLOSENESS: dict[SiteRelation, int] = {"same": 0, "near": 1, "unknown": 2, "apart": 3}


@dataclass(frozen=True, slots=True)
class ActiveInfection:
    """An active infection and the sites it was read at (empty when the site is unknown)."""

    evidence: Evidence
    label: str
    sites: tuple[BodySite, ...]


@dataclass(frozen=True, slots=True)
class InfectionProximity:
    """The closest relation between one infection and an order's sites."""

    infection: ActiveInfection
    relation: SiteRelation
    order_site: BodySite | None
    infection_site: BodySite | None


def find_active_infections(record: PatientRecord, knowledge: Knowledge, now: date) -> list[ActiveInfection]:
    """Active conditions in the skin/soft-tissue infection value set, with their sites."""
    value_set = knowledge.value_set(INFECTION_VALUE_SET)
    infections: list[ActiveInfection] = []
    # Only the Conditions coded in the value set or named as such an infection can give evidence below.
    ids = (INFECTION_VALUE_SET,)
    for condition in condition_index(record, knowledge, now).select(ids, ids):
        if old_encounter_diagnosis(condition, now, knowledge):
            continue
        if expired_acute_infection(condition, now, knowledge):
            continue
        code = condition.get("code")
        matches = value_set.match_concept(code, knowledge.aliases)
        by_name = (
            None
            if matches
            else match_condition_text(code, INFECTION_VALUE_SET, knowledge.condition_text, knowledge.aliases)
        )
        if not matches and by_name is None:
            continue
        recorded = condition_date(condition)
        sites = condition_sites(condition, knowledge.body_regions, knowledge.aliases)
        when = f", since {recorded.isoformat()}" if recorded else ""
        if by_name is not None:
            label = by_name.text
            how = f"no code: matched by the name '{by_name.name}'"
        else:
            label = concept_label(code) or matches[0].code
            how = ", ".join(m.code for m in matches)
        infections.append(
            ActiveInfection(
                Evidence(relative_reference(condition), f"{label} ({how}){when}", recorded),
                label,
                tuple(sites),
            )
        )
    return infections


def old_encounter_diagnosis(condition: Mapping[str, Any], now: date, knowledge: Knowledge) -> bool:
    """An encounter diagnosis without clinicalStatus, older than the policy window: a past visit's infection,
    not a current one. Undated ones still count (the safe reading)."""
    if condition.get("clinicalStatus") is not None or not is_encounter_diagnosis(condition):
        return False
    dated = condition_date(condition, "latest")
    return (
        dated is not None and (now - dated).days > knowledge.policy.infection_encounter_diagnosis_max_age_days
    )


def expired_acute_infection(condition: Mapping[str, Any], now: date, knowledge: Knowledge) -> bool:
    """An acute infection on any list whose clinicalStatus does not say active (absent or unreadable), dated
    more than ``infection_acute_max_age_days`` ago: a past episode nobody closed. Chronic site infections
    (``chronic-site-infection``) and undated ones still count (the safe reading)."""
    clinical = status_code(condition.get("clinicalStatus"), CONDITION_CLINICAL_SYSTEM)
    if clinical in knowledge.policy.condition_active_clinical_statuses:
        return False
    if CHRONIC_INFECTION_VALUE_SET in concept_facts(condition.get("code"), knowledge).value_sets:
        return False
    dated = condition_date(condition, "latest")
    return dated is not None and (now - dated).days > knowledge.policy.infection_acute_max_age_days


def relate_infection(
    infection: ActiveInfection, order_sites: Sequence[BodySite], knowledge: Knowledge
) -> InfectionProximity:
    """How close the infection is to the closest of the order's sites (no order sites -> unknown)."""
    best = InfectionProximity(infection, "unknown", None, None)
    if not order_sites or not infection.sites:
        return best
    best = InfectionProximity(infection, "apart", None, None)
    for order_site in order_sites:
        for infection_site in infection.sites:
            relation = relate_sites(order_site, infection_site, knowledge.body_regions)
            if _CLOSENESS[relation] < _CLOSENESS[best.relation]:
                best = InfectionProximity(infection, relation, order_site, infection_site)
    return best
