"""Systemic infection (sepsis): a patient-level precaution, whatever the needling site."""

from __future__ import annotations

from datetime import date

from fhir_mappings.chart_view import condition_index
from fhir_mappings.condition_text import match_condition_text
from fhir_mappings.fhir_json import concept_label, relative_reference
from fhir_mappings.findings import Evidence
from fhir_mappings.infection import expired_acute_infection, old_encounter_diagnosis
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.records import PatientRecord, condition_date

SYSTEMIC_INFECTION_VALUE_SET = "systemic-infection"


def find_systemic_infections(record: PatientRecord, knowledge: Knowledge, now: date) -> list[Evidence]:
    """Active sepsis diagnoses (by code, else by name when no code is placed), with the same windows as the
    local infections: an encounter diagnosis without status for 30 days, any undated-status one for
    ``infection_acute_max_age_days``."""
    value_set = knowledge.value_set(SYSTEMIC_INFECTION_VALUE_SET)
    found: list[Evidence] = []
    # Only the Conditions coded in the value set or named as sepsis can give evidence below.
    ids = (SYSTEMIC_INFECTION_VALUE_SET,)
    for condition in condition_index(record, knowledge, now).select(ids, ids):
        if old_encounter_diagnosis(condition, now, knowledge) or expired_acute_infection(
            condition, now, knowledge
        ):
            continue
        code = condition.get("code")
        matches = value_set.match_concept(code, knowledge.aliases)
        recorded = condition_date(condition)
        when = f", since {recorded.isoformat()}" if recorded else ""
        if matches:
            label = concept_label(code) or matches[0].display or matches[0].code
            codes = ", ".join(m.code for m in matches)
            found.append(Evidence(relative_reference(condition), f"{label} ({codes}){when}", recorded, label))
            continue
        by_name = match_condition_text(
            code, SYSTEMIC_INFECTION_VALUE_SET, knowledge.condition_text, knowledge.aliases
        )
        if by_name is not None:
            description = f"'{by_name.text}' (no code: matched by the name '{by_name.name}'){when}"
            found.append(Evidence(relative_reference(condition), description, recorded, by_name.text))
    return found
