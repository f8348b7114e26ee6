"""Precautions beyond the seed (docs/clinical-basis.md section 3), read from ``precautions.json``.

Three scopes: conditions that matter wherever the needle goes (an implanted device, a compromised immune
system, epilepsy, fainting, a metal allergy, red-flag spinal conditions), conditions that matter when a limb
is needled (impaired sensation), and conditions that matter at their own site, matched to the ordered site by
region and side as local infection is (lymphedema of a limb, a joint prosthesis, a breast implant). Also: a
patient under 18, and an ordered body site this service cannot place (said, never silent).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from fhir_mappings.body_regions import BodySite, read_body_site
from fhir_mappings.chart_view import concept_facts, condition_index
from fhir_mappings.codes import ICD10CM, SNOMED
from fhir_mappings.fhir_json import (
    as_list,
    as_object,
    as_text,
    codings,
    concept_label,
    concept_texts,
    parse_date,
    relative_reference,
)
from fhir_mappings.findings import Evidence, Finding, FindingKind
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.medications import current_medications
from fhir_mappings.orders import DryNeedlingOrder
from fhir_mappings.precaution_knowledge import ConditionRule
from fhir_mappings.records import (
    PatientRecord,
    condition_date,
    is_excluded_verification,
)

Relation = Literal["same", "unknown", "apart"]
_RANK: dict[Relation, int] = {"same": 0, "unknown": 1, "apart": 2}
_STANDARD = frozenset({ICD10CM, SNOMED})
_MAX_TEXT = 300
_ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


@dataclass(frozen=True, slots=True)
class MatchedCondition:
    """An active condition a rule matched, with the record it came from."""

    resource: Mapping[str, Any]
    label: str
    evidence: Evidence


def patient_precautions(
    record: PatientRecord,
    knowledge: Knowledge,
    now: date,
    references: tuple[str, ...],
    orders: Sequence[DryNeedlingOrder] = (),
) -> list[Finding]:
    """Findings of the rules that hold wherever the needle goes (one per rule, all its evidence)."""
    findings: list[Finding] = []
    for rule in knowledge.precautions.patient:
        evidence = [m.evidence for m in matching_conditions(rule, record, knowledge, now)]
        evidence += _medication_evidence(rule, record, knowledge, now)
        evidence += _allergy_evidence(rule, record, knowledge)
        if rule.order_reasons:
            evidence += _order_reason_evidence(rule, orders, knowledge)
        if evidence:
            facts = {"condition": _labels(evidence)}
            findings.append(_finding(knowledge, rule.code, references, facts, tuple(evidence)))
    return findings


def limb_precautions(
    order: DryNeedlingOrder | None, record: PatientRecord, knowledge: Knowledge, now: date
) -> list[Finding]:
    """Findings of rules that hold when a limb is needled (an order on a limb or at an unknown site; on
    patient-view, with no order, whenever the condition is on file)."""
    findings: list[Finding] = []
    for rule in knowledge.precautions.limb:
        if order is not None and not _concerns(order, rule.order_regions):
            continue
        matched = matching_conditions(rule, record, knowledge, now)
        if matched:
            evidence = tuple(m.evidence for m in matched)
            facts = {"condition": _labels(evidence)}
            if order is not None:
                facts["order_site"] = _order_sites_label(order, knowledge)
            findings.append(_finding(knowledge, rule.code, _refs(order), facts, evidence))
    return findings


def site_precautions(
    order: DryNeedlingOrder | None, record: PatientRecord, knowledge: Knowledge, now: date
) -> list[Finding]:
    """Findings of rules matched to the ordered site by region and side (on patient-view: every such
    condition on file, as a precaution)."""
    findings: list[Finding] = []
    for rule in knowledge.precautions.site:
        matches = matching_conditions(rule, record, knowledge, now) + matching_procedures(
            rule, record, knowledge
        )
        for matched in matches:
            sites = condition_body_sites(matched.resource, rule, knowledge)
            facts = {"condition": matched.label, "condition_site": _sites_text(sites, knowledge)}
            if order is None:  # no order yet: said as a precaution, whatever the order would be
                precaution = FindingKind.PRECAUTION
                findings.append(_finding(knowledge, rule.code, (), facts, (matched.evidence,), precaution))
                continue
            relation, order_site = _relate(order, sites, rule)
            if relation == "apart":
                continue
            facts["order_site"] = (
                knowledge.body_regions.display(order_site)
                if order_site
                else _order_sites_label(order, knowledge)
            )
            kind = None
            if rule.critical_when_sides_match and relation == "unknown":
                kind = FindingKind.PRECAUTION
                facts["side"] = "the side of the condition or of the order is not recorded"
            findings.append(
                _finding(knowledge, rule.code, (order.reference,), facts, (matched.evidence,), kind)
            )
    return findings


def minor_patient(
    record: PatientRecord, knowledge: Knowledge, now: date, references: tuple[str, ...]
) -> list[Finding]:
    """``minor-patient`` when the Patient's birthDate makes them younger than the policy age today."""
    birth = parse_date((record.patient or {}).get("birthDate"), "earliest")
    if birth is None:
        return []
    age = now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))
    if age < 0 or age >= knowledge.policy.minor_age_below_years:
        return []
    reference = f"Patient/{record.patient_id}"
    evidence = Evidence(reference, f"Born {birth.isoformat()}: {age} years old today", birth)
    return [_finding(knowledge, "minor-patient", references, {"age": f"{age} years"}, (evidence,))]


def body_site_unrecognised(order: DryNeedlingOrder, knowledge: Knowledge) -> list[Finding]:
    """``body-site-unrecognised`` when the order names a body site that no region could be read from."""
    unplaced = [site.label for site in order.body_sites if not site.known]
    if not unplaced:
        return []
    facts = {"order_site": "; ".join(dict.fromkeys(unplaced))}
    return [_finding(knowledge, "body-site-unrecognised", (order.reference,), facts)]


def order_site_unknown(order: DryNeedlingOrder) -> bool:
    """True when some ordered site could not be placed, or the order names none."""
    return not order.body_sites or any(not site.known for site in order.body_sites)


def matching_conditions(
    rule: ConditionRule, record: PatientRecord, knowledge: Knowledge, now: date
) -> list[MatchedCondition]:
    """Active conditions in the rule's value sets, or (without a standard coding) naming it in their text."""
    matched: list[MatchedCondition] = []
    # Only Conditions coded in the rule's value sets, or with no standard coding (read by their words), can
    # match below.
    index = condition_index(record, knowledge, now)
    for condition in index.select(rule.value_sets, no_coding_from=_STANDARD):
        found = _match_concept(rule.value_sets, rule, condition.get("code"), knowledge)
        if found is None:
            continue
        label, how = found
        recorded = condition_date(condition)
        when = f", since {recorded.isoformat()}" if recorded else ""
        evidence = Evidence(relative_reference(condition), f"{label} ({how}){when}", recorded, label)
        matched.append(MatchedCondition(condition, label, evidence))
    return matched


def matching_procedures(
    rule: ConditionRule, record: PatientRecord, knowledge: Knowledge
) -> list[MatchedCondition]:
    """Completed procedures in the rule's procedure value sets (a joint replacement leaves a prosthesis)."""
    matched: list[MatchedCondition] = []
    for procedure in record.procedures:
        if (as_text(procedure.get("status")) or "").lower() != "completed":
            continue
        found = None
        for value_set_id in rule.procedure_value_sets:
            matches = knowledge.value_set(value_set_id).match_concept(
                procedure.get("code"), knowledge.aliases
            )
            if matches:
                label = concept_label(procedure.get("code")) or matches[0].display or matches[0].code
                found = (label, ", ".join(dict.fromkeys(m.code for m in matches)))
                break
        if found is None:
            continue
        label, how = found
        performed = parse_date(procedure.get("performedDateTime")) or parse_date(
            (as_object(procedure.get("performedPeriod")) or {}).get("start")
        )
        when = f", performed {performed.isoformat()}" if performed else ""
        evidence = Evidence(relative_reference(procedure), f"{label} ({how}){when}", performed, label)
        matched.append(MatchedCondition(procedure, label, evidence))
    return matched


def condition_body_sites(
    condition: Mapping[str, Any], rule: ConditionRule, knowledge: Knowledge
) -> list[BodySite]:
    """Where the condition is: its bodySite regions, else the rule's ICD-10-CM site digits or code regions,
    else the words of the diagnosis; a side read anywhere fills a side missing elsewhere. Empty: unknown."""
    regions_knowledge, aliases = knowledge.body_regions, knowledge.aliases
    body = [read_body_site(c, regions_knowledge, aliases) for c in as_list(condition.get("bodySite"))]
    named = read_body_site(condition.get("code"), regions_knowledge, aliases)
    side = next((site.side for site in body if site.side), None) or named.side
    known = [site for site in body if site.known]
    if known:
        return [BodySite(site.regions, site.side or side, site.label) for site in known]
    code_sites = _code_sites(condition, rule, knowledge)
    if code_sites:
        return [BodySite(site.regions, site.side or side, site.label) for site in code_sites]
    return [BodySite(named.regions, side, named.label)] if named.known else []


def _code_sites(condition: Mapping[str, Any], rule: ConditionRule, knowledge: Knowledge) -> list[BodySite]:
    sites: list[BodySite] = []
    for coding in codings(condition.get("code")):
        if knowledge.aliases.canonical(coding.system) != ICD10CM:
            continue
        normalised = coding.code.replace(".", "").replace(" ", "").upper()
        for digit_rule in rule.icd_digit_rules:
            site = digit_rule.site(normalised, coding.code)
            if site is not None:
                sites.append(site)
        sites += [
            BodySite(regions, None, coding.code)
            for prefix, regions in rule.code_regions
            if normalised.startswith(prefix)
        ]
    return sites


def _relate(
    order: DryNeedlingOrder, condition_sites: Sequence[BodySite], rule: ConditionRule
) -> tuple[Relation, BodySite | None]:
    """The closest relation between the order's sites and the condition's: same region (as reached) and
    side; unknown (a side, the condition's region or the order's site not known); apart."""
    if not order.body_sites or not any(site.known for site in order.body_sites):
        return "unknown", None
    best: tuple[Relation, BodySite | None] = ("apart", None)
    for order_site in order.body_sites:
        if not order_site.known:
            relation: Relation = "unknown"
        elif not order_site.regions & rule.order_regions:
            relation = "apart"
        elif not condition_sites:
            relation = "unknown"
        else:
            relation = min(
                (_site_relation(order_site, site, rule) for site in condition_sites), key=_RANK.__getitem__
            )
        if _RANK[relation] < _RANK[best[0]]:
            best = (relation, order_site if order_site.known else None)
    return best


def _site_relation(order_site: BodySite, condition_site: BodySite, rule: ConditionRule) -> Relation:
    reached = set().union(*(rule.reach.get(region, frozenset({region})) for region in condition_site.regions))
    if not order_site.regions & reached:
        return "apart"
    sides = {order_site.side, condition_site.side}
    if None in sides:
        return "unknown"
    if sides == {"left", "right"}:
        return "apart"
    return "same"


def _concerns(order: DryNeedlingOrder, regions: frozenset[str]) -> bool:
    """The order is on one of ``regions``, or one of its sites is unknown (it cannot be excluded)."""
    return order_site_unknown(order) or any(site.regions & regions for site in order.body_sites)


def _match_concept(
    value_sets: Collection[str], rule: ConditionRule, concept: Any, knowledge: Knowledge
) -> tuple[str, str] | None:
    """(label, how it matched) when the concept is in one of the value sets, or has no standard coding and
    names the rule's condition in its text (not negated or historical)."""
    facts = concept_facts(concept, knowledge)
    if facts.in_any(value_sets):
        for value_set_id in value_sets:
            matches = knowledge.value_set(value_set_id).match_concept(concept, knowledge.aliases)
            if matches:
                label = concept_label(concept) or matches[0].display or matches[0].code
                return label, ", ".join(dict.fromkeys(m.code for m in matches))
    if not facts.systems.isdisjoint(_STANDARD):
        return None
    not_asserted = knowledge.condition_text.not_asserted
    for text in concept_texts(concept):
        lowered = text[:_MAX_TEXT].lower()
        if not_asserted is not None and not_asserted.search(lowered):
            continue
        found = rule.text_names.search(lowered)
        if found:
            return text[:_MAX_TEXT], f"no code: matched by the name '{found.group(0)}'"
    return None


def _medication_evidence(
    rule: ConditionRule, record: PatientRecord, knowledge: Knowledge, now: date
) -> list[Evidence]:
    if not rule.medication_value_sets:
        return []
    evidence: list[Evidence] = []
    for resource, status, concepts in current_medications(record, knowledge, now):
        for concept in concepts:
            if not concept_facts(concept, knowledge).in_any(rule.medication_value_sets):
                continue
            matches = [
                m
                for vs in rule.medication_value_sets
                for m in knowledge.value_set(vs).match_concept(concept, knowledge.aliases)
            ]
            if matches:
                label = concept_label(concept) or matches[0].display or matches[0].code
                codes = ", ".join(f"RxNorm {m.code}" for m in matches)
                evidence.append(
                    Evidence(relative_reference(resource), f"{label} ({codes}), {status}", None, label)
                )
                break
    return evidence


def _allergy_evidence(rule: ConditionRule, record: PatientRecord, knowledge: Knowledge) -> list[Evidence]:
    if not rule.allergy_value_sets and rule.allergy_words.pattern == "(?!)":
        return []
    evidence: list[Evidence] = []
    for allergy in record.allergy_intolerances:
        if not _active_allergy(allergy):
            continue
        concepts = [allergy.get("code")]
        concepts += [(as_object(r) or {}).get("substance") for r in as_list(allergy.get("reaction"))]
        found = _allergy_match(rule, concepts, knowledge)
        if found is not None:
            label, how = found
            recorded = parse_date(allergy.get("recordedDate") or allergy.get("onsetDateTime"))
            description = f"Allergy: {label} ({how})"
            evidence.append(Evidence(relative_reference(allergy), description, recorded, f"{label} allergy"))
    return evidence


def _allergy_match(rule: ConditionRule, concepts: list[Any], knowledge: Knowledge) -> tuple[str, str] | None:
    """(the allergy's name, how it matched): by a code of the rule's value sets, else a word of its text."""
    for concept in concepts:
        coded = concept_facts(concept, knowledge).in_any(rule.allergy_value_sets)
        for value_set_id in rule.allergy_value_sets if coded else ():
            matches = knowledge.value_set(value_set_id).match_concept(concept, knowledge.aliases)
            if matches:
                label = concept_label(concept) or matches[0].display or matches[0].code
                return label, ", ".join(m.code for m in matches)
        for text in concept_texts(concept):
            found = rule.allergy_words.search(text[:_MAX_TEXT])
            if found:
                return text[:_MAX_TEXT], f"no code: matched by the name '{found.group(0).lower()}'"
    return None


def _active_allergy(allergy: Mapping[str, Any]) -> bool:
    """Active or without a clinical status, and neither refuted nor entered in error."""
    clinical = _status(allergy.get("clinicalStatus"), _ALLERGY_CLINICAL)
    verification = _status(allergy.get("verificationStatus"), _ALLERGY_VERIFICATION)
    return clinical in {None, "active"} and verification not in {"refuted", "entered-in-error"}


def _status(concept: Any, system: str) -> str | None:
    for coding in codings(concept):
        if coding.system == system:
            return coding.code
    return None


def _order_reason_evidence(
    rule: ConditionRule, orders: Sequence[DryNeedlingOrder], knowledge: Knowledge
) -> list[Evidence]:
    evidence: list[Evidence] = []
    for order in orders:
        for concept in as_list(order.resource.get("reasonCode")):
            found = _match_concept(rule.value_sets, rule, concept, knowledge)
            if found is not None:
                label, how = found
                evidence.append(Evidence(order.reference, f"Order reason: {label} ({how})", None, label))
        for reference in as_list(order.resource.get("reasonReference")):
            target = as_text((as_object(reference) or {}).get("reference")) or ""
            if target.startswith("#"):
                for contained in as_list(order.resource.get("contained")):
                    resource = as_object(contained) or {}
                    if f"#{resource.get('id')}" == target and not is_excluded_verification(
                        resource, knowledge.policy
                    ):
                        found = _match_concept(rule.value_sets, rule, resource.get("code"), knowledge)
                        if found is not None:
                            evidence.append(
                                Evidence(
                                    order.reference, f"Order reason: {found[0]} ({found[1]})", None, found[0]
                                )
                            )
    return evidence


def _labels(evidence: Iterable[Evidence]) -> str:
    return ", ".join(dict.fromkeys(e.label or e.description for e in evidence))


def _sites_text(sites: Sequence[BodySite], knowledge: Knowledge) -> str:
    if not sites:
        return "site not recorded"
    return "; ".join(knowledge.body_regions.display(site) for site in sites)


def _order_sites_label(order: DryNeedlingOrder, knowledge: Knowledge) -> str:
    if not order.body_sites:
        return "no body site on the order"
    return "; ".join(knowledge.body_regions.display(site) for site in order.body_sites)


def _refs(order: DryNeedlingOrder | None) -> tuple[str, ...]:
    return (order.reference,) if order is not None else ()


def _finding(
    knowledge: Knowledge,
    code: str,
    references: tuple[str, ...],
    facts: dict[str, str] | None = None,
    evidence: tuple[Evidence, ...] = (),
    kind: FindingKind | None = None,
) -> Finding:
    return Finding(
        code=code,
        kind=kind or FindingKind(knowledge.findings[code].kind),
        order_references=references,
        facts=facts or {},
        evidence=evidence,
    )
