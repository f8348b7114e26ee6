"""Facts + knowledge -> findings, for the order hooks and for patient-view. Pure: ``now`` is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.findings import Evidence, Finding, FindingKind, IndicationMatch
from fhir_mappings.indications import find_indications
from fhir_mappings.infection import ActiveInfection, find_active_infections, relate_infection
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.orders import DryNeedlingOrder
from fhir_mappings.pregnancy import PregnancyAssessment, assess_pregnancy, pregnancy_status_gap
from fhir_mappings.records import PatientRecord
from fhir_mappings.reproductive import reproductive_potential


def evaluate_orders(
    orders: Sequence[DryNeedlingOrder], record: PatientRecord, knowledge: Knowledge, now: date
) -> list[Finding]:
    """Findings for the dry-needling orders being selected or signed (none -> no findings)."""
    if not orders:
        return []
    references = tuple(order.reference for order in orders)
    findings = _patient_findings(record, knowledge, now, references)
    infections = find_active_infections(record, knowledge, now)
    for order in orders:
        findings.extend(_infection_findings(order, infections, knowledge))
        findings.append(_indication_finding(order, record, knowledge, now))
        findings.append(_finding(knowledge, "risk-disclosure", (order.reference,)))
    return findings


def evaluate_patient(record: PatientRecord, knowledge: Knowledge, now: date) -> list[Finding]:
    """Findings for patient-view: indications and contraindications on file, no order needed."""
    findings = _patient_findings(record, knowledge, now, ())
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
    record: PatientRecord, knowledge: Knowledge, now: date, references: tuple[str, ...]
) -> list[Finding]:
    findings: list[Finding] = []
    pregnancy = assess_pregnancy(record, knowledge, now)
    if pregnancy.status != "not-pregnant":
        findings.append(_pregnancy_finding(pregnancy, knowledge, references))
    elif references:  # only when needling is being ordered: on patient-view it would fire on every chart
        findings.extend(_pregnancy_status_findings(record, knowledge, now, references))
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
    return findings


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
    record: PatientRecord, knowledge: Knowledge, now: date, references: tuple[str, ...]
) -> list[Finding]:
    """``pregnancy-status-unknown`` for a patient of reproductive potential without a recent status."""
    gap = pregnancy_status_gap(record, knowledge, now)
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
