"""Findings -> CDS Hooks cards. Pure.

A card reads as a clinician's note: the summary starts with its kind in words for warning and critical cards
(the wording's job, checked by the tests), the detail gives why, what to do, the patient's record as facts
(dates in words, no resource ids: those are in the card's extension) and the published source. A card about
the patient only (patient-view) uses the wording written for "if dry needling is considered" and never shows
facts about an order.

Card uuids are derived (uuid5) from the context's ``uuid_seed``, the hookInstance and the finding: the same
call always yields the same uuids, and with a secret seed per caller (cds_service.routes.card_uuid_seed)
nobody else can predict them.
"""

from __future__ import annotations

import copy
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cards.wording import CardWording, HookText, SummaryTemplate
from fhir_mappings.findings import Evidence, Finding, FindingKind, IndicationMatch

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
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?\b")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INNER_BRACKETS = re.compile(r"\(([^()]*)\(([^()]*)\)([^()]*)\)")
_SYSTEM_NAMES = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://snomed.info/sct": "SNOMED CT",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~@])")  # "@": no e-mail or mailto: autolinks either
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|xmpp)(:)|\b(www)\.")
MAX_SHOWN_CHARS = 1000  # one value (a fact, an evidence line) as shown in a card's detail
MAX_DETAIL_CHARS = 20_000
# References (Type/id, FHIR R4 id syntax) as the card's extension may carry them; anything else is left out.
_REFERENCE = re.compile(r"[A-Z][A-Za-z]{0,63}/[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True, slots=True)
class CardContext:
    """What the builder needs to know about the call."""

    hook_instance: str
    finding_system: str
    finding_displays: Mapping[str, str]
    knowledge_version: str
    handout_link: tuple[str, str] | None = None  # (label, absolute URL) of the printable patient handout
    source_url: str | None = None  # absolute URL of the rule-base page; a card links to #finding-<code> on it
    uuid_seed: str = ""  # a secret per caller and call: card uuids cannot be guessed from the hookInstance


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


def choose_summary(finding_wording: HookText, facts: Mapping[str, str]) -> str:
    """The first summary whose required facts are present and that fits under the limit.

    A summary is cut (with an ellipsis) only where that loses nothing but the tail of a list: when the first
    candidate ends with its placeholder and no other template with facts fits. A summary whose conclusion
    follows the facts ("...: not checked") is never cut; a shorter template is used instead. Brackets are
    never nested: a fact's own "(mild)" inside the template's brackets becomes ", mild".
    """
    facts = {name: date_in_words(plain_text(value)) for name, value in facts.items()}  # the EHR text, visible
    candidates = [s for s in finding_wording.summaries if s.requires <= facts.keys()]
    first = candidates[0]
    for template in candidates:
        summary = unnest_brackets(template.text.format_map(facts))
        if len(summary) < SUMMARY_LIMIT and (template.requires or not first.text.endswith("}")):
            return summary
    summary = unnest_brackets(first.text.format_map(facts))
    return summary[: SUMMARY_LIMIT - 2].rstrip() + "\u2026"


def unnest_brackets(text: str) -> str:
    """``text`` with brackets inside brackets flattened: "(Hemophilia A (mild))" -> "(Hemophilia A, mild)"."""
    previous = None
    while previous != text:
        previous = text
        text = _INNER_BRACKETS.sub(lambda m: f"({m.group(1).rstrip()}, {m.group(2)}{m.group(3)})", text)
    return text


def choose_template(templates: Sequence[SummaryTemplate], facts: Mapping[str, str]) -> str:
    """The first template whose facts are present, filled (facts escaped as literal markdown)."""
    template = next(t for t in templates if t.requires <= facts.keys())
    return template.text.format_map({name: markdown_text(value) for name, value in facts.items()})


def date_in_words(text: str) -> str:
    """ISO dates and dateTimes in ``text`` as "23 Nov 2026" (unambiguous in every locale)."""

    def words(match: re.Match[str]) -> str:
        year, month, day = (int(group) for group in match.groups())
        if not 1 <= month <= 12:
            return match.group(0)
        return f"{day} {_MONTHS[month - 1]} {year}"

    return _ISO_DATE.sub(words, text)


def _card(
    finding: Finding,
    orders: Mapping[str, Mapping[str, Any]],
    context: CardContext,
    wording: CardWording,
) -> dict[str, Any]:
    with_order = bool(finding.order_references)
    finding_wording = wording.findings[finding.code].text(with_order)
    indicator = _INDICATOR[finding.kind]
    card_id = _uuid(
        context.uuid_seed,
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
        "summary": choose_summary(finding_wording, _shown_facts(finding, wording)),
        "indicator": indicator,
        "detail": _detail(finding, finding_wording, wording.findings[finding.code].rule_source, wording),
        "source": source,
    }
    order_refs = [ref for ref in finding.order_references if ref in orders]
    if finding.kind is FindingKind.CONTRAINDICATION and order_refs:
        card["suggestions"] = [_remove_orders_suggestion(card_id, order_refs)]
        card["selectionBehavior"] = "at-most-one"
    reasons = wording.overrides.for_finding(finding.code, finding.kind.value)
    if reasons:
        card["overrideReasons"] = [
            {"system": wording.overrides.system, "code": code, "display": display}
            for code, display in reasons
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


def _detail(finding: Finding, text: HookText, rule_source: str, wording: CardWording) -> str:
    facts = _shown_facts(finding, wording)
    parts = [choose_template(text.why, facts)]
    if finding.kind is FindingKind.DISCLOSURE:
        parts.append(_disclosure_markdown(wording, finding.site_risks))
    if text.action:
        parts.append(f"**What to do:** {text.action}")
    record = _record_lines(finding, facts, wording)
    if record:
        parts.append("**In the record:**\n" + "\n".join(f"- {line}" for line in record))
    if finding.unrecognised:
        lines = [f"- {markdown_text(item)}" for item in finding.unrecognised]
        parts.append("**Not recognised (no usable code; please code them):**\n" + "\n".join(lines))
    closing = [f"**Source:** {rule_source}"]
    return "\n\n".join(_within(parts, MAX_DETAIL_CHARS - sum(len(p) + 2 for p in closing)) + closing)


def _within(parts: list[str], budget: int) -> list[str]:
    """``parts`` cut (at a line) to ``budget`` characters: the EHR's data cannot make a detail unbounded."""
    text = "\n\n".join(parts)
    if len(text) <= budget:
        return parts
    kept = text[: max(0, budget - 40)].rsplit("\n", 1)[0]
    return [kept + "\n- \u2026 (more not shown)"]


def _shown_facts(finding: Finding, wording: CardWording) -> dict[str, str]:
    """The facts a card shows: facts about an order only when the card concerns one."""
    if finding.order_references:
        return dict(finding.facts)
    return {name: value for name, value in finding.facts.items() if name not in wording.order_facts}


def _record_lines(finding: Finding, facts: Mapping[str, str], wording: CardWording) -> list[str]:
    """The patient's facts, then each evidence record and matched indication as a fact in words (no
    repeats: an evidence record already shown as a fact is not listed twice)."""
    lines = [
        f"{fact_label(wording, name)}: {markdown_text(date_in_words(value))}"
        for name, value in facts.items()
        if name not in wording.wording_facts
    ]
    shown = {date_in_words(value).casefold() for value in facts.values()}
    for evidence in finding.evidence:
        line = evidence_text(evidence)
        if line.casefold() not in shown:
            shown.add(line.casefold())
            lines.append(markdown_text(line))
    for match in finding.indications:
        line = indication_text(match)
        if line.casefold() not in shown:
            shown.add(line.casefold())
            lines.append(markdown_text(line))
    return lines


def evidence_text(evidence: Evidence) -> str:
    """One evidence record as a fact a clinician reads: its description with dates in words, first letter
    capitalised; the record's id stays in the card's extension."""
    text = date_in_words(" ".join(evidence.description.split()))
    if evidence.recorded is not None and not _ISO_DATE.search(evidence.description):
        text += f", recorded {date_in_words(evidence.recorded.isoformat())}"
    return text[:1].upper() + text[1:]


def indication_text(match: IndicationMatch) -> str:
    """A matched indication: "Low back pain, unspecified (ICD-10-CM M54.50), from the order reason"."""
    system = _SYSTEM_NAMES.get(match.system, "code")
    name = match.display or match.code
    return f"{name} ({system} {match.code}), from the {match.origin}"


def markdown_text(text: str) -> str:
    """``text`` (from the EHR's data) as literal GFM text on one line: control, format and bidi characters
    dropped (:func:`plain_text`), at most :data:`MAX_SHOWN_CHARS` characters, markdown and HTML characters
    escaped, URLs and e-mail addresses not turned into links."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", plain_text(text))
    return _AUTOLINK.sub(lambda m: f"{m.group(1)}\\:" if m.group(1) else f"{m.group(3)}\\.", escaped)


def plain_text(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` on one line, without characters a person cannot see but a terminal or renderer obeys (C0/C1
    controls such as NUL, format characters such as U+202E RIGHT-TO-LEFT OVERRIDE or zero-width spaces,
    surrogates, private use), cut to ``limit`` characters with an ellipsis."""
    one_line = " ".join(text.split())
    visible = "".join(char for char in one_line if unicodedata.category(char)[0] != "C")
    return visible if len(visible) <= limit else visible[: limit - 1].rstrip() + "\u2026"


def fact_label(wording: CardWording, name: str) -> str:
    """How a fact is named in the card detail: its label in card-text.json, else its name in words."""
    return wording.fact_labels.get(name, name.replace("_", " "))


def _disclosure_markdown(wording: CardWording, site_risks: Sequence[str] = ()) -> str:
    """The risks and aftercare in brief (the card must fit one screen; the handout has the full text).
    Aftercare scoped to some site risks (the lung-collapse signs) is told only for an order with one."""
    parts = ["\n".join(f"- {risk.brief or risk.text}" for risk in wording.risks)]
    aftercare_brief = wording.aftercare_brief_for(site_risks)
    if aftercare_brief:
        parts.append("**Aftercare:** " + "; ".join(aftercare_brief) + ".")
    site_lines = [
        wording.site_briefs.get(code) or wording.site_lines[code]
        for code in site_risks
        if code in wording.site_lines
    ]
    if site_lines:
        parts.append("**For this site:** " + " ".join(site_lines))
    return "\n\n".join(parts)


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
            {"type": "delete", "description": "Remove the draft dry-needling order", "resourceId": ref}
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
                "description": "Add the risks and aftercare advice to the order's patient instructions",
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
    evidence = [e.reference for e in finding.evidence if e.reference and _REFERENCE.fullmatch(e.reference)]
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
                    ("display", plain_text(m.display) if m.display else m.display),
                    ("origin", m.origin),
                    ("reference", m.reference if m.reference and _REFERENCE.fullmatch(m.reference) else None),
                )
                if value
            }
            for m in finding.indications
        ]
    orders = [ref for ref in finding.order_references if _REFERENCE.fullmatch(ref)]
    if orders:
        extension[EXTENSION_ORDERS] = orders
    extension[EXTENSION_KNOWLEDGE] = context.knowledge_version
    return extension


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, "|".join(parts)))
