"""Findings -> CDS Hooks cards, per the card contract (architecture.md section 5). Pure.

Card uuids are derived from the hookInstance and the finding (uuid5), so the same call always yields the same
uuids and feedback can be linked back to the card without storing anything here.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cards.wording import CardWording, FindingWording
from fhir_mappings.findings import Finding, FindingKind

SUMMARY_LIMIT = 140  # CDS Hooks: summary SHALL be under 140 characters
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dn-cds:card")
_INDICATOR = {
    FindingKind.CONTRAINDICATION: "critical",
    FindingKind.PRECAUTION: "warning",
    FindingKind.MISSING_DATA: "warning",
    FindingKind.INDICATION: "info",
    FindingKind.DISCLOSURE: "info",
    FindingKind.NOTICE: "info",
}
_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
EXTENSION_EVIDENCE = "dn-cds.evidence"
EXTENSION_INDICATIONS = "dn-cds.indications"
EXTENSION_ORDERS = "dn-cds.orders"
EXTENSION_KNOWLEDGE = "dn-cds.knowledgeVersion"
# Characters that make markdown or HTML in GFM: a value copied from the EHR's data is escaped, so a code's
# text such as "[Details](https://...)" or "<img ...>" is shown as written, never as a link, image or tag.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp)://|\b(www)\.")


@dataclass(frozen=True, slots=True)
class CardContext:
    """What the builder needs to know about the call."""

    hook_instance: str
    finding_system: str
    finding_displays: Mapping[str, str]
    knowledge_version: str
    handout_link: tuple[str, str] | None = None  # (label, absolute URL) of the printable patient handout
    source_url: str | None = None  # absolute URL of the rule-base page; a card links to #finding-<code> on it


def build_cards(
    findings: Sequence[Finding],
    orders: Mapping[str, Mapping[str, Any]],
    context: CardContext,
    wording: CardWording,
) -> list[dict[str, Any]]:
    """One card per finding, sorted critical, warning, info (stable within an indicator)."""
    cards = [_card(f, orders, context, wording) for f in findings]
    return sorted(cards, key=lambda card: _INDICATOR_ORDER[card["indicator"]])


def indicator_for(kind: FindingKind) -> str:
    """The card indicator for a finding kind (contraindication -> critical, ...)."""
    return _INDICATOR[kind]


def choose_summary(finding_wording: FindingWording, facts: Mapping[str, str]) -> str:
    """The first summary whose required facts are present and that fits under the limit.

    A summary is cut (with an ellipsis) only where that loses nothing but the tail of a list: when the first
    candidate ends with its placeholder and no other template with facts fits. A summary whose conclusion
    follows the facts ("...: not checked") is never cut; a shorter template is used instead.
    """
    candidates = [s for s in finding_wording.summaries if s.requires <= facts.keys()]
    first = candidates[0]
    for template in candidates:
        summary = template.text.format_map(facts)
        if len(summary) < SUMMARY_LIMIT and (template.requires or not first.text.endswith("}")):
            return summary
    summary = first.text.format_map(facts)
    return summary[: SUMMARY_LIMIT - 2].rstrip() + "\u2026"


def _card(
    finding: Finding,
    orders: Mapping[str, Mapping[str, Any]],
    context: CardContext,
    wording: CardWording,
) -> dict[str, Any]:
    finding_wording = wording.findings[finding.code]
    indicator = _INDICATOR[finding.kind]
    card_id = _uuid(
        context.hook_instance,
        "card",
        finding.code,
        *finding.order_references,
        *(e.reference or e.description for e in finding.evidence),
    )
    source: dict[str, Any] = {"label": wording.source_label}
    if context.source_url:
        source["url"] = f"{context.source_url}#finding-{finding.code}"
    source["topic"] = {
        "system": context.finding_system,
        "code": finding.code,
        "display": context.finding_displays[finding.code],
    }
    card: dict[str, Any] = {
        "uuid": card_id,
        "summary": choose_summary(finding_wording, finding.facts),
        "indicator": indicator,
        "detail": _detail(finding, finding_wording, wording),
        "source": source,
    }
    order_refs = [ref for ref in finding.order_references if ref in orders]
    if finding.kind is FindingKind.CONTRAINDICATION:
        if order_refs:
            card["suggestions"] = [_remove_orders_suggestion(card_id, order_refs)]
            card["selectionBehavior"] = "at-most-one"
        card["overrideReasons"] = [
            {"system": wording.override_system, "code": code, "display": display}
            for code, display in wording.override_reasons
        ]
    elif finding.kind is FindingKind.DISCLOSURE and order_refs:
        card["suggestions"] = [
            _instruction_suggestion(card_id, ref, orders[ref], wording, finding.site_risks)
            for ref in order_refs
        ]
        card["selectionBehavior"] = "any" if len(order_refs) > 1 else "at-most-one"
    if finding.kind is FindingKind.DISCLOSURE and context.handout_link:
        label, url = context.handout_link
        card["links"] = [{"label": label, "url": url, "type": "absolute"}]
    extension = _extension(finding, context)
    if extension:
        card["extension"] = extension
    return card


def _detail(finding: Finding, finding_wording: FindingWording, wording: CardWording) -> str:
    parts = [f"**Why.** {finding_wording.why}"]
    facts = [
        f"- {fact_label(wording, name)}: {markdown_text(value)}" for name, value in finding.facts.items()
    ]
    if facts:
        parts.append("**Patient facts.**\n" + "\n".join(facts))
    if finding.evidence:
        lines = [
            f"- {markdown_text(e.description)}" + (f" ({markdown_text(e.reference)})" if e.reference else "")
            for e in finding.evidence
        ]
        parts.append("**Evidence.**\n" + "\n".join(lines))
    if finding.indications:
        lines = [
            markdown_text(
                f"{m.key}: {m.display or m.code} ({m.code}, {m.origin}"
                + (f", {m.reference})" if m.reference else ")")
            )
            for m in finding.indications
        ]
        lines = [f"- {line}" for line in lines]
        parts.append("**Matched indications.**\n" + "\n".join(lines))
    if finding.unrecognised:
        lines = [f"- {markdown_text(item)}" for item in finding.unrecognised]
        parts.append("**Not recognised (no usable code, please code them).**\n" + "\n".join(lines))
    if finding.kind is FindingKind.DISCLOSURE:
        parts.append(_disclosure_markdown(wording, finding.site_risks))
    parts.append(f"**What to do.** {finding_wording.action}")
    parts.append(f"**Rule source.** {finding_wording.rule_source}")
    return "\n\n".join(parts)


def markdown_text(text: str) -> str:
    """``text`` (from the EHR's data) as literal GFM text on one line: markdown and HTML characters escaped,
    URLs not turned into links."""
    one_line = " ".join(text.split())
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)
    return _AUTOLINK.sub(lambda m: f"{m.group(1)}\\://" if m.group(1) else f"{m.group(2)}\\.", escaped)


def fact_label(wording: CardWording, name: str) -> str:
    """How a fact is named in the card detail: its label in card-text.json, else its name in words."""
    return wording.fact_labels.get(name, name.replace("_", " "))


def _disclosure_markdown(wording: CardWording, site_risks: Sequence[str] = ()) -> str:
    risk_lines = []
    for risk in wording.risks:
        line = f"- {risk.text}" + (f": {risk.rate}" if risk.rate else "")
        if risk.published:
            line += f" *(published: {risk.published})*"
        risk_lines.append(line)
    aftercare = [f"- {text}" for text in wording.aftercare_for(site_risks)]
    site_lines = [f"- {wording.site_lines[code]}" for code in site_risks if code in wording.site_lines]
    site_part = "**For this site.**\n" + "\n".join(site_lines) + "\n\n" if site_lines else ""
    return (
        "**Risks to disclose.**\n"
        + "\n".join(risk_lines)
        + "\n\n"
        + site_part
        + "**Aftercare advice.**\n"
        + "\n".join(aftercare)
    )


def patient_instruction_text(wording: CardWording, site_risks: Sequence[str] = ()) -> str:
    """Plain-text risks and aftercare for ``ServiceRequest.patientInstruction`` (site lines included)."""
    risks = "; ".join(risk.text + (f" ({risk.rate})" if risk.rate else "") for risk in wording.risks)
    site = [wording.site_lines[code] for code in site_risks if code in wording.site_lines]
    return (
        f"{wording.patient_instruction_heading}. Possible effects: {risks}. "
        + "".join(f"{line} " for line in site)
        + " ".join(wording.aftercare_for(site_risks))
    )


def _remove_orders_suggestion(card_id: str, order_refs: Sequence[str]) -> dict[str, Any]:
    plural = "s" if len(order_refs) > 1 else ""
    return {
        "label": f"Remove the dry-needling order{plural}",
        "uuid": _uuid(card_id, "remove"),
        "isRecommended": True,
        "actions": [
            {"type": "delete", "description": f"Remove the dry-needling order {ref}", "resourceId": ref}
            for ref in order_refs
        ],
    }


def _instruction_suggestion(
    card_id: str,
    reference: str,
    order: Mapping[str, Any],
    wording: CardWording,
    site_risks: Sequence[str] = (),
) -> dict[str, Any]:
    updated = without_empty_values(copy.deepcopy(dict(order)))
    text = patient_instruction_text(wording, site_risks)
    existing = updated.get("patientInstruction")
    if isinstance(existing, str) and existing.strip():
        # Keep what the clinician wrote; add the advice once (it may already be there from an earlier hook).
        text = existing if text in existing else f"{existing.strip()}\n\n{text}"
    updated["patientInstruction"] = text
    return {
        "label": "Add the risks and aftercare advice to the patient instructions",
        "uuid": _uuid(card_id, "instructions", reference),
        "actions": [
            {
                "type": "update",
                "description": f"Set patientInstruction on {reference} to the risk and aftercare advice",
                "resource": updated,
            }
        ],
    }


def without_empty_values(value: Any) -> Any:
    """``value`` without null, ``""``, ``[]`` or ``{}`` anywhere (FHIR JSON forbids them; an EHR's draft
    order may still carry them, and the update suggestion must not echo them back)."""
    if isinstance(value, dict):
        pruned = {key: without_empty_values(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        items = [without_empty_values(item) for item in value]
        return [item for item in items if item not in (None, "", [], {})]
    return value


def _extension(finding: Finding, context: CardContext) -> dict[str, Any]:
    extension: dict[str, Any] = {}
    evidence = [e.reference for e in finding.evidence if e.reference]
    if evidence:
        extension[EXTENSION_EVIDENCE] = list(dict.fromkeys(evidence))
    if finding.indications:
        extension[EXTENSION_INDICATIONS] = [
            {
                key: value
                for key, value in (
                    ("key", m.key),
                    ("system", m.system),
                    ("code", m.code),
                    ("display", m.display),
                    ("origin", m.origin),
                    ("reference", m.reference),
                )
                if value
            }
            for m in finding.indications
        ]
    if finding.order_references:
        extension[EXTENSION_ORDERS] = list(finding.order_references)
    extension[EXTENSION_KNOWLEDGE] = context.knowledge_version
    return extension


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, "|".join(parts)))
