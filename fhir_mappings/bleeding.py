"""Bleeding-risk conditions (the seed's bleeding-disorder contraindication)."""

from __future__ import annotations

from datetime import date

from fhir_mappings.chart_view import condition_index
from fhir_mappings.condition_text import match_condition_text
from fhir_mappings.fhir_json import concept_label, relative_reference
from fhir_mappings.findings import Evidence
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.records import PatientRecord, condition_date

BLEEDING_DISORDER_VALUE_SET = "bleeding-disorder"
BLEEDING_DISORDER_SNOMED_VALUE_SET = "bleeding-disorder-snomed"  # VSAC-derived, valuesets/vsac.json


def find_bleeding_disorders(record: PatientRecord, knowledge: Knowledge, now: date) -> list[Evidence]:
    """Active conditions in the bleeding-disorder value set (thrombophilias are excluded there), and active
    conditions without a standard coding that name a bleeding disorder in their text (flagged as such)."""
    value_set = knowledge.value_set(BLEEDING_DISORDER_VALUE_SET)
    value_set_ids = (BLEEDING_DISORDER_VALUE_SET, BLEEDING_DISORDER_SNOMED_VALUE_SET)
    evidence: list[Evidence] = []
    # Only the Conditions coded in these value sets or named as a bleeding disorder can give evidence below.
    index = condition_index(record, knowledge, now)
    for condition in index.select(value_set_ids, (BLEEDING_DISORDER_VALUE_SET,)):
        matches = [
            match
            for matcher in (value_set, knowledge.value_sets.get(BLEEDING_DISORDER_SNOMED_VALUE_SET))
            if matcher is not None
            for match in matcher.match_concept(condition.get("code"), knowledge.aliases)
        ]
        if not matches:
            by_name = match_condition_text(
                condition.get("code"),
                BLEEDING_DISORDER_VALUE_SET,
                knowledge.condition_text,
                knowledge.aliases,
            )
            if by_name is not None:
                recorded = condition_date(condition)
                when = f", since {recorded.isoformat()}" if recorded else ""
                description = f"'{by_name.text}' (no code: matched by the name '{by_name.name}'){when}"
                evidence.append(Evidence(relative_reference(condition), description, recorded, by_name.text))
            continue
        recorded = condition_date(condition)
        code_text = ", ".join(f"{m.code}" for m in matches)
        label = concept_label(condition.get("code")) or matches[0].display or code_text
        when = f", since {recorded.isoformat()}" if recorded else ""
        evidence.append(
            Evidence(relative_reference(condition), f"{label} ({code_text}){when}", recorded, label)
        )
    return evidence
