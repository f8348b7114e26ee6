"""Bleeding policy beyond the seed's bleeding-disorder contraindication (clinical review, 2026-12).

- Antithrombotic therapy: one drug gives the single-drug precaution, information only when that drug is one
  the policy lists (aspirin alone: continued for low-risk procedures, SIR 2019 / ASRA 2018); two or more drugs
  (anticoagulant with antiplatelet, dual antiplatelet, two anticoagulants) give ``combined-antithrombotic-
  therapy`` instead.
- A vitamin K antagonist without an INR in the last ``inr_max_age_days_on_vka`` days: ``inr-not-recent``.
- Non-thrombocytopenic purpura (by policy) and a thrombocytopenia code without a recent platelet count:
  ``bleeding-risk-condition``. With a count, the platelet thresholds decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fhir_mappings.chart_view import concept_facts, condition_index
from fhir_mappings.condition_text import match_condition_text
from fhir_mappings.fhir_json import concept_label, relative_reference
from fhir_mappings.findings import Evidence, Finding, FindingKind
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.labs import LabAssessment
from fhir_mappings.medications import AntithromboticUse
from fhir_mappings.records import (
    PatientRecord,
    condition_date,
    is_usable_observation,
    observation_date,
)

THROMBOCYTOPENIA_VALUE_SET = "thrombocytopenia"
_NAME_NOTE = " (no code: matched by name in the medication text)"


def antithrombotic_findings(
    uses: Sequence[AntithromboticUse], knowledge: Knowledge, references: tuple[str, ...]
) -> list[Finding]:
    """The single-drug card, or the combined-therapy card that replaces it."""
    if not uses:
        return []
    drugs = ", ".join(dict.fromkeys(use.drug for use in uses))
    facts = {"drugs": drugs}
    by_name = list(dict.fromkeys(use.drug for use in uses if use.matched_by == "name"))
    if by_name and all(use.matched_by == "name" for use in uses):
        facts["matched_by_name"] = ", ".join(by_name) + _NAME_NOTE
    elif by_name:
        facts["also_matched_by_name"] = ", ".join(by_name) + _NAME_NOTE
    evidence = tuple(use.evidence for use in uses)
    agents = {use.ingredient for use in uses if use.ingredient}
    classes = {use.drug_class for use in uses if use.drug_class}
    if len(agents) >= 2 or {"anticoagulant", "antiplatelet"} <= classes:
        return [_finding(knowledge, "combined-antithrombotic-therapy", references, facts, evidence)]
    info_only = knowledge.policy.antithrombotic_info_only_ingredients
    kind = None
    if all(use.ingredient in info_only for use in uses):
        kind = FindingKind.NOTICE
        facts["low_risk_drug"] = "taken alone, usually continued for low-bleeding-risk procedures"
    return [_finding(knowledge, "antithrombotic-therapy", references, facts, evidence, kind)]


def inr_not_recent(
    uses: Sequence[AntithromboticUse],
    record: PatientRecord,
    knowledge: Knowledge,
    now: date,
    references: tuple[str, ...],
) -> list[Finding]:
    """``inr-not-recent`` when a vitamin K antagonist is current and no INR is recent enough."""
    policy = knowledge.policy
    vka = [use for use in uses if use.ingredient in policy.inr_monitored_ingredients]
    if not vka:
        return []
    inr = next((test for test in knowledge.lab_tests if test.key == "inr"), None)
    if inr is None:
        return []
    dates = [
        measured
        for observation in record.observations
        if is_usable_observation(observation, policy)
        and inr.value_set in concept_facts(observation.get("code"), knowledge).value_sets
        and (measured := observation_date(observation, "latest")) is not None
        and any(key.startswith("value") for key in observation)
    ]
    newest = max((d for d in dates if d <= now), default=None)
    if newest is not None and (now - newest).days <= policy.inr_max_age_days_on_vka:
        return []
    facts = {
        "drugs": ", ".join(dict.fromkeys(use.drug for use in vka)),
        "days": str(policy.inr_max_age_days_on_vka),
        "last_inr": newest.isoformat() if newest else "none on file",
    }
    return [_finding(knowledge, "inr-not-recent", references, facts, tuple(use.evidence for use in vka))]


def bleeding_risk_conditions(
    record: PatientRecord,
    knowledge: Knowledge,
    now: date,
    references: tuple[str, ...],
    labs: Sequence[LabAssessment],
) -> list[Finding]:
    """``bleeding-risk-condition``: purpura the policy lists, and thrombocytopenia with no platelet count."""
    counted = any(a.test.key == "platelet-count" and a.decisive is not None for a in labs)
    value_sets = sorted(knowledge.policy.bleeding_precaution_conditions)
    if not counted:
        value_sets.append(THROMBOCYTOPENIA_VALUE_SET)
    evidence: list[Evidence] = []
    # Only the Conditions coded in these value sets or named as one of their conditions can give evidence.
    for condition in condition_index(record, knowledge, now).select(value_sets, value_sets):
        concept = condition.get("code")
        recorded = condition_date(condition)
        when = f", since {recorded.isoformat()}" if recorded else ""
        for value_set_id in value_sets:
            matches = knowledge.value_set(value_set_id).match_concept(concept, knowledge.aliases)
            by_name = (
                None
                if matches
                else match_condition_text(concept, value_set_id, knowledge.condition_text, knowledge.aliases)
            )
            if matches:
                label = concept_label(concept) or matches[0].display or matches[0].code
                how = ", ".join(m.code for m in matches)
            elif by_name is not None:
                label, how = by_name.text, f"no code: matched by the name '{by_name.name}'"
            else:
                continue
            evidence.append(
                Evidence(relative_reference(condition), f"{label} ({how}){when}", recorded, label)
            )
            break
    if not evidence:
        return []
    facts = {"condition": ", ".join(dict.fromkeys(e.label or e.description for e in evidence))}
    if not counted and any(_is_thrombocytopenia(e, knowledge, record) for e in evidence):
        facts["platelets"] = "no platelet count within the lab age limit"
    return [_finding(knowledge, "bleeding-risk-condition", references, facts, tuple(evidence))]


def _is_thrombocytopenia(evidence: Evidence, knowledge: Knowledge, record: PatientRecord) -> bool:
    condition = next((c for c in record.conditions if relative_reference(c) == evidence.reference), None)
    if condition is None:
        return False
    concept = condition.get("code")
    return bool(
        knowledge.value_set(THROMBOCYTOPENIA_VALUE_SET).match_concept(concept, knowledge.aliases)
        or match_condition_text(
            concept, THROMBOCYTOPENIA_VALUE_SET, knowledge.condition_text, knowledge.aliases
        )
    )


def _finding(
    knowledge: Knowledge,
    code: str,
    references: tuple[str, ...],
    facts: dict[str, str],
    evidence: tuple[Evidence, ...],
    kind: FindingKind | None = None,
) -> Finding:
    return Finding(
        code=code,
        kind=kind or FindingKind(knowledge.findings[code].kind),
        order_references=references,
        facts=facts,
        evidence=evidence,
    )
