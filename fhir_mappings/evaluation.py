"""Facts + knowledge -> findings, for the order hooks and for patient-view. Pure: ``now`` is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.bleeding_risk import antithrombotic_findings, bleeding_risk_conditions, inr_not_recent
from fhir_mappings.fhir_json import bundle_resources
from fhir_mappings.findings import Evidence, Finding, FindingKind, IndicationMatch
from fhir_mappings.indications import find_indications
from fhir_mappings.infection import ActiveInfection, find_active_infections, relate_infection
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.labs import LabAssessment, assess_labs
from fhir_mappings.medications import find_antithrombotic_therapy
from fhir_mappings.orders import DryNeedlingOrder
from fhir_mappings.precautions import (
    body_site_unrecognised,
    limb_precautions,
    minor_patient,
    order_site_unknown,
    patient_precautions,
    site_precautions,
)
from fhir_mappings.pregnancy import PregnancyAssessment, assess_pregnancy
from fhir_mappings.records import PatientRecord, belongs_to_patient
from fhir_mappings.reproductive import reproductive_potential
from fhir_mappings.site_risks import order_site_risks
from fhir_mappings.systemic_infection import find_systemic_infections


def evaluate_orders(
    orders: Sequence[DryNeedlingOrder],
    record: PatientRecord,
    knowledge: Knowledge,
    now: date,
    draft_orders: Any = None,
) -> list[Finding]:
    """Findings for the dry-needling orders being selected or signed (none -> no findings).

    ``draft_orders`` (the hook's draftOrders Bundle): its MedicationRequests are read as therapy about to
    start, so an anticoagulant signed together with the needling order raises the antithrombotic precaution.
    """
    if not orders:
        return []
    drafts = tuple(
        r
        for r in bundle_resources(draft_orders)
        if r.get("resourceType") == "MedicationRequest" and belongs_to_patient(r, record.patient_id)
    )
    if drafts:
        record = replace(record, draft_medication_requests=record.draft_medication_requests + drafts)
    references = tuple(order.reference for order in orders)
    findings = _patient_findings(record, knowledge, now, references, orders)
    findings.extend(minor_patient(record, knowledge, now, references))
    infections = find_active_infections(record, knowledge, now)
    for order in orders:
        findings.extend(_infection_findings(order, infections, knowledge))
        findings.extend(site_precautions(order, record, knowledge, now))
        findings.extend(limb_precautions(order, record, knowledge, now))
        findings.extend(body_site_unrecognised(order, knowledge))
        findings.append(_indication_finding(order, record, knowledge, now))
        site_risks = order_site_risks(order, knowledge)
        for risk in site_risks:
            findings.append(_finding(knowledge, risk.code, (order.reference,), {"order_site": risk.site}))
        findings.append(_disclosure_finding(order, site_risks, knowledge))
    return findings


def _disclosure_finding(order: DryNeedlingOrder, site_risks: Sequence[Any], knowledge: Knowledge) -> Finding:
    """The risk disclosure; the late lung-collapse signs are told only when the site may overlie the lung
    (a pneumothorax-risk site, or a site this service could not place)."""
    lung = next((risk.site for risk in site_risks if risk.code == LUNG_SITE_RISK), None)
    if lung is None and order_site_unknown(order):
        lung = _order_sites_label(order, knowledge) if order.body_sites else "no body site on the order"
    facts = {"lung_site": lung} if lung else {}
    disclosure = _finding(knowledge, "risk-disclosure", (order.reference,), facts)
    codes = tuple(risk.code for risk in site_risks)
    if order_site_unknown(order):
        codes = (*codes, UNPLACED_SITE)  # the site may overlie the lung: its aftercare is told
    return replace(disclosure, site_risks=codes)


LUNG_SITE_RISK = "pneumothorax-risk-site"
UNPLACED_SITE = "unplaced-site"  # in a disclosure's site_risks: some ordered site could not be placed


def evaluate_patient(record: PatientRecord, knowledge: Knowledge, now: date) -> list[Finding]:
    """Findings for patient-view: indications and contraindications on file, no order needed."""
    findings = _patient_findings(record, knowledge, now, ())
    findings.extend(site_precautions(None, record, knowledge, now))
    findings.extend(limb_precautions(None, record, knowledge, now))
    for infection in find_active_infections(record, knowledge, now):
        where = _sites_label(infection, knowledge)
        findings.append(
            _finding(
                knowledge,
                "infection-near-site",
                (),
                {
                    "infection": infection.label,
                    "infection_site": where,
                    "order_site": "any site",
                    "relation": "no order yet: avoid needling at or near this site",
                },
                (infection.evidence,),
            )
        )
    findings.append(_indication_finding(None, record, knowledge, now))
    return findings


def _patient_findings(
    record: PatientRecord,
    knowledge: Knowledge,
    now: date,
    references: tuple[str, ...],
    orders: Sequence[DryNeedlingOrder] = (),
) -> list[Finding]:
    findings: list[Finding] = []
    pregnancy = assess_pregnancy(record, knowledge, now)
    if pregnancy.status != "not-pregnant":
        findings.append(_pregnancy_finding(pregnancy, knowledge, references))
    elif references:  # only when needling is being ordered: on patient-view it would fire on every chart
        findings.extend(_pregnancy_status_findings(pregnancy, record, knowledge, now, references))
    bleeding = find_bleeding_disorders(record, knowledge, now)
    if bleeding:
        findings.append(
            _finding(
                knowledge,
                "bleeding-disorder",
                references,
                {"condition": bleeding[0].label or bleeding[0].description},
                tuple(bleeding),
            )
        )
    sepsis = find_systemic_infections(record, knowledge, now)
    if sepsis:
        label = sepsis[0].label or sepsis[0].description
        findings.append(
            _finding(knowledge, "systemic-infection", references, {"condition": label}, tuple(sepsis))
        )
    labs = assess_labs(record, knowledge, now)
    findings.extend(bleeding_risk_conditions(record, knowledge, now, references, labs))
    uses = find_antithrombotic_therapy(record, knowledge, now)
    findings.extend(antithrombotic_findings(uses, knowledge, references))
    findings.extend(inr_not_recent(uses, record, knowledge, now, references))
    for assessment in labs:
        findings.extend(_lab_findings(assessment, knowledge, references))
    findings.extend(patient_precautions(record, knowledge, now, references, orders))
    return findings


def _lab_findings(
    assessment: LabAssessment, knowledge: Knowledge, references: tuple[str, ...]
) -> list[Finding]:
    findings: list[Finding] = []
    policy = knowledge.policy
    test = assessment.test
    decisive = assessment.decisive
    if decisive is not None and decisive.value is not None:
        code: str | None = None
        if test.key == "platelet-count":
            if decisive.value < policy.platelet_contraindication_below:
                code = "severe-thrombocytopenia"
            elif decisive.value < policy.platelet_precaution_below:
                code = "low-platelet-count"
        elif test.key == "inr":
            if decisive.value >= policy.inr_contraindication_at_or_above:
                code = "inr-critical"
            elif decisive.value > policy.inr_precaution_above:
                code = "inr-elevated"
        if code is not None:
            facts = {
                "result": decisive.sent,
                "value": decisive.converted,
                "date": decisive.measured.isoformat(),
                "threshold": _threshold_text(code, knowledge, test.display_unit),
            }
            findings.append(_finding(knowledge, code, references, facts, (decisive.evidence,)))
    if assessment.unreadable:
        newest = assessment.unreadable[0]
        facts = {
            "test": test.display,
            "result": newest.sent,
            "date": newest.measured.isoformat(),
            "problem": newest.problem or "not readable",
            "expected_unit": test.display_unit or "no unit (a ratio)",
        }
        evidence = tuple(result.evidence for result in assessment.unreadable)
        findings.append(_finding(knowledge, "lab-unit-unknown", references, facts, evidence))
    return findings


def _threshold_text(code: str, knowledge: Knowledge, unit: str) -> str:
    policy = knowledge.policy
    text = {
        "severe-thrombocytopenia": f"below {policy.platelet_contraindication_below:g} {unit}",
        "low-platelet-count": f"below {policy.platelet_precaution_below:g} {unit}",
        "inr-critical": f"{policy.inr_contraindication_at_or_above:g} or above",
        "inr-elevated": f"above {policy.inr_precaution_above:g}",
    }[code]
    return text.strip()


def _pregnancy_finding(
    pregnancy: PregnancyAssessment, knowledge: Knowledge, references: tuple[str, ...]
) -> Finding:
    code = (
        "pregnancy-first-trimester" if pregnancy.status == "first-trimester" else "pregnancy-later-trimester"
    )
    facts: dict[str, str] = {}
    if pregnancy.ga_label:
        facts["ga"] = pregnancy.ga_label
    if pregnancy.dating_basis:
        facts["dating"] = pregnancy.dating_basis
    if pregnancy.reason:
        facts["reason"] = pregnancy.reason
    return _finding(knowledge, code, references, facts, pregnancy.evidence)


def _pregnancy_status_findings(
    pregnancy: PregnancyAssessment,
    record: PatientRecord,
    knowledge: Knowledge,
    now: date,
    references: tuple[str, ...],
) -> list[Finding]:
    """``pregnancy-status-unknown`` for a patient of reproductive potential without a recent status."""
    gap = pregnancy.status_gap
    if gap is None:
        return []
    potential = reproductive_potential(record, knowledge, now)
    if not potential.possible:
        return []
    reason, evidence = gap
    return [
        _finding(
            knowledge,
            "pregnancy-status-unknown",
            references,
            {"reason": reason, "patient": potential.reason},
            evidence,
        )
    ]


def _infection_findings(
    order: DryNeedlingOrder, infections: Sequence[ActiveInfection], knowledge: Knowledge
) -> list[Finding]:
    findings: list[Finding] = []
    for infection in infections:
        proximity = relate_infection(infection, order.body_sites, knowledge)
        if proximity.relation == "apart":
            continue
        code = "local-infection" if proximity.relation == "same" else "infection-near-site"
        order_site = (
            knowledge.body_regions.display(proximity.order_site)
            if proximity.order_site
            else _order_sites_label(order, knowledge)
        )
        relation_text = {
            "same": "same site",
            "near": "adjacent site",
            "unknown": "site of the infection or of the order unknown",
        }[proximity.relation]
        findings.append(
            _finding(
                knowledge,
                code,
                (order.reference,),
                {
                    "infection": infection.label,
                    "infection_site": _sites_label(infection, knowledge),
                    "order_site": order_site,
                    "relation": relation_text,
                },
                (infection.evidence,),
            )
        )
    return findings


def _indication_finding(
    order: DryNeedlingOrder | None, record: PatientRecord, knowledge: Knowledge, now: date
) -> Finding:
    result = find_indications(order, record, knowledge, now)
    references = (order.reference,) if order else ()
    if not result.matches:
        return _finding(knowledge, "no-indication-found", references, unrecognised=result.unrecognised)
    keys = dict.fromkeys(match.key for match in result.matches)
    titles = [knowledge.value_set(f"indication-{key}").title for key in keys]
    return _finding(
        knowledge,
        "indication-found",
        references,
        {"indications": ", ".join(titles)},
        indications=result.matches,
        unrecognised=result.unrecognised,
    )


def _sites_label(infection: ActiveInfection, knowledge: Knowledge) -> str:
    if not infection.sites:
        return "site not recorded"
    return "; ".join(knowledge.body_regions.display(site) for site in infection.sites)


def _order_sites_label(order: DryNeedlingOrder, knowledge: Knowledge) -> str:
    if not order.body_sites:
        return "no body site on the order"
    return "; ".join(knowledge.body_regions.display(site) for site in order.body_sites)


def _finding(
    knowledge: Knowledge,
    code: str,
    references: tuple[str, ...],
    facts: dict[str, str] | None = None,
    evidence: tuple[Evidence, ...] = (),
    indications: tuple[IndicationMatch, ...] = (),
    unrecognised: tuple[str, ...] = (),
) -> Finding:
    definition = knowledge.findings[code]
    return Finding(
        code=code,
        kind=FindingKind(definition.kind),
        order_references=references,
        facts=facts or {},
        evidence=evidence,
        indications=indications,
        unrecognised=unrecognised,
    )
