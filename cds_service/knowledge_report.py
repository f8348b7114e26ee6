"""The rule base as a document for a clinical review committee (``dn-cds knowledge``).

Everything in the report is read from the loaded knowledge and the data files: finding codes and their card
wording, every ValueSet with its compose (codes, ICD-10-CM prefixes, exclusions, verification status) and
expansion size, every policy setting with its source and basis, the risk disclosures, body regions,
code-system aliases and the sources of every knowledge file. Nothing is listed by hand here: new value sets,
settings and files appear without code changes.

:func:`gather_sources` reads the files; :func:`build_report` turns them into a small document model, which
:func:`render_markdown` and :func:`render_html` print. Building and rendering are pure.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cards import CardWording, load_card_wording
from cards.builder import indicator_for
from cards.wording import DATA_DIR as CARDS_DATA_DIR
from cards.wording import FindingWording, fill_policy, policy_names, policy_value_text
from fhir_mappings import Knowledge, load_knowledge
from fhir_mappings.findings import FindingKind
from fhir_mappings.knowledge import DATA_DIR as KNOWLEDGE_DATA_DIR
from fhir_mappings.knowledge import SOURCE_EXTENSION

VERIFICATION_EXTENSION = "urn:dn-cds:StructureDefinition/verification"
ReportFormat = Literal["markdown", "html"]
COLLAPSE_ROWS = 30  # longer tables are collapsed (<details>) on the HTML page

# --- the document model -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Collapsed:
    """Long content a reader opens on demand (an HTML ``<details>``); Markdown shows it in full."""

    summary: str
    blocks: tuple[Heading | Paragraph | Bullets | Table, ...]


Block = Heading | Paragraph | Bullets | Table | Collapsed


@dataclass(frozen=True, slots=True)
class KnowledgeSources:
    """The loaded knowledge plus the raw documents the report quotes."""

    knowledge: Knowledge
    wording: CardWording
    value_sets: Mapping[str, Mapping[str, Any]]  # id -> ValueSet resource as in the file
    value_set_files: Mapping[str, str]  # id -> file name
    documents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # file name -> JSON document


SITE_POLICY_DOCUMENT = "site policy file (DN_CDS_POLICY_FILE)"


def gather_sources(
    knowledge_dir: Path = KNOWLEDGE_DATA_DIR,
    cards_dir: Path = CARDS_DATA_DIR,
    policy_file: Path | None = None,
) -> KnowledgeSources:
    """Load the knowledge (as the service does, with all its checks, and the site's policy file when given)
    and read every data file."""
    knowledge = load_knowledge(knowledge_dir, policy_file=policy_file)
    wording = load_card_wording(knowledge.findings, cards_dir, policy=knowledge.policy)
    documents: dict[str, Mapping[str, Any]] = {}
    value_sets: dict[str, Mapping[str, Any]] = {}
    value_set_files: dict[str, str] = {}
    for directory, prefix in ((knowledge_dir, "fhir_mappings/data/"), (cards_dir, "cards/data/")):
        for path in sorted(directory.rglob("*.json")):
            name = prefix + path.relative_to(directory).as_posix()
            document = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(document, Mapping):
                continue
            documents[name] = document
            for resource in _value_set_resources(document):
                value_sets[str(resource["id"])] = resource
                value_set_files[str(resource["id"])] = name
    if policy_file is not None:  # already read and checked by load_knowledge
        documents[SITE_POLICY_DOCUMENT] = json.loads(policy_file.read_text(encoding="utf-8"))
    return KnowledgeSources(knowledge, wording, value_sets, value_set_files, documents)


def _value_set_resources(document: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    if document.get("resourceType") == "ValueSet":
        yield document
    elif document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if isinstance(resource, Mapping) and resource.get("resourceType") == "ValueSet":
                yield resource


# --- building the report ------------------------------------------------------------------------------------


def build_report(sources: KnowledgeSources) -> list[Block]:
    """The whole report as blocks, in reading order."""
    knowledge = sources.knowledge
    blocks: list[Block] = [
        Heading(1, "Dry-needling CDS: clinical rule base for review"),
        Paragraph(
            f"Knowledge version {knowledge.version}; card wording version {sources.wording.version}. "
            "Generated by `dn-cds knowledge` from the knowledge files the service loads at start-up; edit "
            "those files, not this document. Nothing in the rule base is clinically signed off until this "
            "committee says so."
        ),
        Table(
            ("Part", "Count"),
            (
                ("Finding codes", str(len(knowledge.findings))),
                ("Indication keys", str(len(knowledge.indication_keys()))),
                ("Value sets", str(len(knowledge.value_sets))),
                ("Policy settings (thresholds, windows, statuses)", str(len(_policy_settings(sources)))),
                ("Codes marked unverified", str(len(_unverified_codes(sources)))),
                ("Knowledge files", str(len(sources.documents))),
            ),
        ),
    ]
    parts = [
        _findings_part(sources),
        _policy_part(sources),
        _disclosure_part(sources),
        _indications_part(sources),
        _risk_knowledge_part(sources),
        _body_regions_part(sources),
        _value_sets_part(sources),
        _coverage_part(sources),
        _aliases_part(sources),
        _verification_part(sources),
        _precautions_part(sources),
        _files_part(sources),
    ]
    for number, part in enumerate(parts, start=1):  # parts are numbered in reading order
        first = part[0]
        if not isinstance(first, Heading):
            raise TypeError("a report part must start with its heading")
        blocks.append(Heading(2, f"{number}. {first.text}", first.anchor))
        blocks += part[1:]
    return blocks


def _findings_part(sources: KnowledgeSources) -> list[Block]:
    knowledge = sources.knowledge
    concepts = {
        str(c.get("code")): c
        for doc in sources.documents.values()
        if doc.get("resourceType") == "CodeSystem" and doc.get("url") == knowledge.finding_system
        for c in doc.get("concept") or []
    }
    blocks: list[Block] = [
        Heading(2, "Finding codes and their rules", "findings"),
        Paragraph(
            f"Each card carries one finding code (CodeSystem `{knowledge.finding_system}`) in "
            "`source.topic`: the stable machine contract. The card's indicator follows from the kind. Every "
            "number a rule uses is shown with the rule, as in effect (with the site policy file, if any)."
        ),
        _collapsed(
            f"All {len(knowledge.findings)} finding codes in one table",
            Table(
                ("Code", "Kind", "Card indicator", "Display", "Rule"),
                tuple(
                    (
                        code,
                        finding.kind,
                        indicator_for(FindingKind(finding.kind)),
                        finding.display,
                        _rule_text(concepts.get(code, {}), sources),
                    )
                    for code, finding in knowledge.findings.items()
                ),
            ),
        ),
    ]
    for code, finding in knowledge.findings.items():
        text = sources.wording.findings.get(code)
        blocks.append(Heading(3, f"{code} ({finding.kind})", f"finding-{code}"))
        if code in concepts and concepts[code].get("definition"):
            blocks.append(Paragraph(f"**Rule.** {_rule_text(concepts[code], sources)}"))
        if text is None:
            blocks.append(Paragraph("No card wording."))
            continue
        blocks += _finding_wording_blocks(code, finding.kind, text, sources, concepts.get(code, {}))
    return blocks


def _rule_text(concept: Mapping[str, Any], sources: KnowledgeSources) -> str:
    return fill_policy(str(concept.get("definition", "")), sources.knowledge.policy)


def _finding_wording_blocks(
    code: str,
    kind: str,
    text: FindingWording,
    sources: KnowledgeSources,
    concept: Mapping[str, Any],
) -> list[Block]:
    """A finding's card text (on an order and, where it differs, on patient-view), the numbers it uses and
    the override reasons it offers."""
    raw = (sources.documents.get("cards/data/card-text.json", {}).get("findings") or {}).get(code) or {}
    quoted = dict.fromkeys(
        name for item in [json.dumps(raw), str(concept.get("definition", ""))] for name in policy_names(item)
    )
    settings = _policy_settings(sources)
    view = text.text(with_order=False)  # what a patient-view card says: shown where it differs
    rows = [
        (
            s.text,
            "order" if view.summaries != text.summaries else "any",
            ", ".join(sorted(s.requires)) or "none",
        )
        for s in text.summaries
    ]
    if view.summaries != text.summaries:
        rows += [(s.text, "patient-view", ", ".join(sorted(s.requires)) or "none") for s in view.summaries]
    items = [
        f"**Why:** {' / '.join(t.text for t in text.why)}",
        "**What to do:** " + (text.action or "accept the card's suggestion"),
    ]
    if view.why != text.why:
        items.append(f"**Why (patient-view):** {' / '.join(t.text for t in view.why)}")
    if view.action != text.action:
        items.append(f"**What to do (patient-view):** {view.action}")
    items.append(f"**Published source:** {text.rule_source}")
    if quoted:
        numbers = "; ".join(
            f"{name} = {policy_value_text(getattr(sources.knowledge.policy, name))}"
            f" {settings.get(name, {}).get('unit', '')} ({settings.get(name, {}).get('basis', 'not stated')})"
            for name in quoted
        )
        items.append(f"**Numbers used:** {numbers} (see the thresholds part)")
    reasons = sources.wording.overrides.for_finding(code, kind)
    items.append(
        "**Override reasons offered:** "
        + ("; ".join(display for _, display in reasons) if reasons else "none")
    )
    return [
        Table(("Card summary (first whose facts are present)", "Hook", "Needs facts"), tuple(rows)),
        Bullets(tuple(items)),
    ]


def _indications_part(sources: KnowledgeSources) -> list[Block]:
    knowledge = sources.knowledge
    rows = []
    for key in knowledge.indication_keys():
        vs_id = f"indication-{key}"
        resource = sources.value_sets.get(vs_id, {})
        rows.append(
            (
                key,
                _title(resource, vs_id),
                vs_id,
                ", ".join(_filter_values(resource, "include")) or "none",
                ", ".join(f"{_system_name(s)} {c}" for s, c in _concepts(resource, "include")) or "none",
                _expansion_summary(resource),
            )
        )
    return [
        Heading(2, "Indications", "indications"),
        Paragraph(
            "The order's reasonCode/reasonReference first, then the active problem list, are matched against "
            "these value sets (every coding, by system and code); a code in several sets counts for the most "
            "specific one."
        ),
        Table(("Key", "Title", "ValueSet", "ICD-10-CM (is-a)", "Exact codes", "Size"), tuple(rows)),
    ]


def _value_sets_part(sources: KnowledgeSources) -> list[Block]:
    blocks: list[Block] = [
        Heading(2, "Value sets", "value-sets"),
        Paragraph(
            "Every ValueSet the service loads, with its compose as written (ICD-10-CM `is-a` filters match "
            "the code and all its descendants after removing the dot; an exclusion wins over an inclusion) "
            "and the size of its expansion."
        ),
    ]
    for vs_id in sources.knowledge.value_sets:
        resource = sources.value_sets.get(vs_id, {})
        blocks.append(Heading(3, f"{vs_id}: {_title(resource, vs_id)}", f"vs-{vs_id}"))
        facts = [
            f"**File:** {sources.value_set_files.get(vs_id, 'unknown')}",
            f"**URL:** {resource.get('url', '')} (version {resource.get('version', 'none')}, "
            f"status {resource.get('status', 'unknown')})",
            f"**Expansion:** {_expansion_summary(resource)}",
        ]
        if resource.get("purpose"):
            facts.append(f"**Purpose:** {resource['purpose']}")
        facts += [f"**Source:** {source}" for source in _sources_of(resource)]
        rows = [
            row
            for part in ("include", "exclude")
            for row in _compose_rows(part, (resource.get("compose") or {}).get(part) or [])
        ]
        headers = ("Part", "System", "Version", "Match", "Code", "Display", "Verification")
        inner: tuple[Bullets | Table, ...] = (Bullets(tuple(facts)),)
        if rows:
            inner += (Table(headers, tuple(rows)),)
        blocks.append(
            Collapsed(f"Compose of {vs_id}: {len(rows)} rows, {_expansion_summary(resource)}", inner)
        )
    return blocks


EXCLUDED_EXTENSION = "urn:dn-cds:StructureDefinition/excluded-code"


def _coverage_part(sources: KnowledgeSources) -> list[Block]:
    """Per value set: its codes by code system, its sources, and what was left out and why."""
    rows: list[tuple[str, ...]] = []
    exclusions: list[str] = []
    for vs_id in sources.knowledge.value_sets:
        resource = sources.value_sets.get(vs_id, {})
        excluded = _excluded_codes(resource)
        rows.append(
            (
                f"`{vs_id}`",
                _codes_by_system(resource),
                "; ".join(_sources_of(resource)),
                f"{len(excluded)} listed below" if excluded else _compose_exclusions(resource),
            )
        )
        exclusions += [f"**{vs_id}**: {item}" for item in excluded]
    blocks: list[Block] = [
        Heading(2, "Coverage by value set", "coverage"),
        Paragraph(
            "What each value set covers, by code system (the shipped expansion where there is one, else the "
            "codes and ICD-10-CM prefixes of its compose), where it comes from, and what was left out of it. "
            "Sets derived from VSAC (valuesets/vsac.json, scripts/build_vsac_valuesets.py) list every code "
            "of their VSAC sources they did not take, with the reason."
        ),
        _collapsed(
            f"Coverage of {len(rows)} value sets",
            Table(("Value set", "Codes by system", "Sources", "Excluded"), tuple(rows)),
        ),
    ]
    if exclusions:
        blocks += [
            Heading(3, "Codes left out of the VSAC-derived sets, and why"),
            Collapsed(f"{len(exclusions)} codes left out, each with why", (Bullets(tuple(exclusions)),)),
        ]
    return blocks


def _codes_by_system(resource: Mapping[str, Any]) -> str:
    expansion = resource.get("expansion")
    if isinstance(expansion, Mapping) and expansion.get("contains"):
        counts = Counter(str(c.get("system", "")) for c in expansion["contains"] if isinstance(c, Mapping))
    else:
        counts = Counter(system for system, _ in _concepts(resource, "include"))
    text = ", ".join(f"{count} {_system_name(system)}" for system, count in sorted(counts.items()))
    prefixes = _filter_values(resource, "include")
    if prefixes and not (isinstance(expansion, Mapping) and expansion.get("contains")):
        text += f"{', ' if text else ''}ICD-10-CM {', '.join(prefixes)} (with descendants)"
    return text or "none"


def _excluded_codes(resource: Mapping[str, Any]) -> list[str]:
    return [
        str(ext.get("valueString"))
        for ext in resource.get("extension") or []
        if isinstance(ext, Mapping) and ext.get("url") == EXCLUDED_EXTENSION
    ]


def _compose_exclusions(resource: Mapping[str, Any]) -> str:
    prefixes = _filter_values(resource, "exclude")
    codes = [code for _, code in _concepts(resource, "exclude")]
    parts = []
    if prefixes:
        parts.append("ICD-10-CM " + ", ".join(prefixes) + " (reasons in the sources)")
    if codes:
        parts.append(f"{len(codes)} ICD-10-CM codes (see the compose)")
    return "; ".join(parts) or "none"


def _compose_rows(part: str, entries: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for entry in entries:
        system = str(entry.get("system", ""))
        version = str(entry.get("version", ""))
        for item in entry.get("filter") or []:
            rows.append(
                (
                    part,
                    system,
                    version,
                    f"{item.get('property')} {item.get('op')}",
                    str(item.get("value", "")),
                    "",
                    _verification(item) or "",
                )
            )
        for concept in entry.get("concept") or []:
            rows.append(
                (
                    part,
                    system,
                    version,
                    "code",
                    str(concept.get("code", "")),
                    str(concept.get("display", "")),
                    _verification(concept) or "",
                )
            )
    return rows


def _policy_settings(sources: KnowledgeSources) -> Mapping[str, Mapping[str, Any]]:
    settings = sources.documents.get("fhir_mappings/data/policy.json", {}).get("settings") or {}
    return {str(name): entry for name, entry in settings.items() if isinstance(entry, Mapping)}


def _policy_part(sources: KnowledgeSources) -> list[Block]:
    policy = sources.knowledge.policy
    rows = []
    for name, entry in _policy_settings(sources).items():
        effective = getattr(policy, name, None)
        rows.append(
            (
                name,
                _value_text(entry.get("value")),
                str(entry.get("unit", "")),
                str(entry.get("basis", "")),
                str(entry.get("source", "")),
                "yes" if effective is not None else "no (not read by this release)",
            )
        )
    document = sources.documents.get("fhir_mappings/data/policy.json", {})
    return [
        Heading(2, "Thresholds, windows and statuses (policy)", "policy"),
        Paragraph(
            f"From `fhir_mappings/data/policy.json` (version {document.get('version', 'none')}). Basis: "
            "'guideline' = a named guideline or code-system rule, 'source-doc' = the seed document, "
            "'conventional' = a common clinical convention, not from a guideline."
        ),
        Table(("Setting", "Value", "Unit", "Basis", "Source", "Used by the rules"), tuple(rows)),
        *_site_policy_blocks(sources),
    ]


def _site_policy_blocks(sources: KnowledgeSources) -> list[Block]:
    """The site's overrides (``DN_CDS_POLICY_FILE``), when the report was built with one."""
    site = sources.documents.get(SITE_POLICY_DOCUMENT)
    if site is None:
        return [Paragraph("No site policy file (`DN_CDS_POLICY_FILE`): the values above are in effect.")]
    shipped = _policy_settings(sources)
    rows = tuple(
        (
            str(name),
            _value_text(shipped.get(name, {}).get("value")),
            _value_text(entry.get("value")),
            str(entry.get("basis", "")),
            str(entry.get("source", "")),
        )
        for name, entry in (site.get("settings") or {}).items()
        if isinstance(entry, Mapping)
    )
    return [
        Paragraph(
            f"Site policy file (`DN_CDS_POLICY_FILE`, version {site.get('version', 'none')}): these settings "
            "override the shipped values above."
        ),
        Table(("Setting", "Shipped value", "Site value", "Basis", "Site source"), rows),
    ]


def _disclosure_part(sources: KnowledgeSources) -> list[Block]:
    document = sources.documents.get("cards/data/risk-disclosure.json", {})
    risks = tuple(
        (
            str(r.get("id", "")),
            str(r.get("text", "")),
            str(r.get("rate", "")),
            str(r.get("source", "")),
            str(r.get("published", "")),
            str(r.get("verification", "")),
        )
        for r in document.get("risks") or []
    )
    aftercare = tuple(
        (
            str(a.get("id", "")),
            str(a.get("text", "")),
            str(a.get("brief", "")),
            ", ".join(a.get("only_for_site_risks") or []) or "every order",
            " ".join(str(a.get(key, "")) for key in ("source", "site_scope_source") if a.get(key)),
        )
        for a in document.get("aftercare") or []
    )
    overrides = sources.wording.overrides
    offered_by: dict[str, list[str]] = {code: [] for code in overrides.displays}
    for code, finding in sources.knowledge.findings.items():
        for reason, _ in overrides.for_finding(code, finding.kind):
            offered_by[reason].append(code)
    reasons = tuple(
        (code, display, ", ".join(offered_by[code]) or "no finding")
        for code, display in overrides.displays.items()
    )
    defaults = "; ".join(f"{kind}: {', '.join(codes) or 'none'}" for kind, codes in overrides.by_kind.items())
    return [
        Heading(2, "Risk disclosure, aftercare and override reasons", "disclosure"),
        Paragraph(
            "The card shows each risk's brief text and the brief aftercare; the order's patient instructions "
            "and the printable patient handout (`GET /handouts/dry-needling`) carry the full text. The "
            "'Published' column compares the information sheet's figures with dry-needling surveys; it is "
            "shown here only, not to patients or on cards. Aftercare told only for some site risks is left "
            "out of the card and the patient instructions for other orders (`unplaced-site`: a site the "
            "service could not place); the handout keeps every item."
        ),
        Table(("Id", "Risk", "Rate (as the source states it)", "Source", "Published", "Status"), risks),
        Table(("Id", "Aftercare advice", "On the card", "Told for (site risks)", "Source"), aftercare),
        Paragraph(
            f"Override reasons (CodeSystem `{overrides.system}`) and the findings whose cards offer them. "
            f"A finding not listed in the per-finding choice gets its kind's default ({defaults})."
        ),
        Table(("Code", "Display", "Offered on"), reasons),
    ]


def _body_regions_part(sources: KnowledgeSources) -> list[Block]:
    document = sources.documents.get("fhir_mappings/data/body-regions.json", {})
    regions = document.get("regions") or {}
    blocks: list[Block] = [
        Heading(2, "Body regions and sides (local infection)", "body-regions"),
        Bullets(tuple(f"**Source:** {s}" for s in document.get("sources") or [])),
        Table(
            ("Region", "Display", "Paired (has sides)", "SNOMED CT anchors"),
            tuple(
                (
                    str(name),
                    str(region.get("display", "")),
                    "yes" if region.get("paired") else "no",
                    "; ".join(f"{code} {display}" for code, display in (region.get("snomed") or {}).items()),
                )
                for name, region in regions.items()
            ),
        ),
        Paragraph(
            "Adjacent regions (infection there -> precaution): "
            + "; ".join(" - ".join(pair) for pair in document.get("adjacent") or [])
        ),
    ]
    sided = {
        k: v for k, v in (document.get("precoordinated_sided_sites") or {}).items() if isinstance(v, Mapping)
    }
    if sided:
        blocks.append(
            _collapsed(
                f"SNOMED CT body sites with a side: {len(sided)}",
                Table(
                    ("SNOMED CT site", "Display", "Region", "Side", "Verification", "Source"),
                    tuple(
                        (
                            code,
                            str(e.get("display", "")),
                            str(e.get("region", "")),
                            str(e.get("side", "")),
                            str(e.get("verification", "")),
                            str(e.get("source", "")),
                        )
                        for code, e in sided.items()
                    ),
                ),
            )
        )
    icd_sites = document.get("icd_site_codes") or []
    if icd_sites:
        blocks.append(
            _collapsed(
                f"ICD-10-CM codes with the site in the code: {len(icd_sites)} groups",
                Table(
                    ("ICD-10-CM codes (site in the code)", "Regions", "Side"),
                    tuple(
                        (
                            ", ".join(entry.get("codes") or []),
                            ", ".join(entry.get("regions") or []),
                            str(entry.get("side", "from the code or unknown")),
                        )
                        for entry in icd_sites
                    ),
                ),
            )
        )
    for rule in document.get("icd_site_digit_rules") or []:
        blocks.append(
            Paragraph(
                f"ICD-10-CM site-digit rule for {', '.join(rule.get('prefixes') or [])}: "
                f"{rule.get('_comment', '')} (verification: {rule.get('verification', 'not stated')}; "
                f"source: {rule.get('source', 'not stated')})"
            )
        )
    return blocks


def _aliases_part(sources: KnowledgeSources) -> list[Block]:
    document = sources.documents.get("fhir_mappings/data/code-systems.json", {})
    systems = document.get("systems") or {}
    return [
        Heading(2, "Code systems and the aliases EHRs send", "code-systems"),
        Paragraph(str(document.get("_comment", ""))),
        Table(
            ("Canonical system", "Also accepted"),
            tuple((str(system), ", ".join(aliases)) for system, aliases in systems.items()),
        ),
    ]


def _unverified_codes(sources: KnowledgeSources) -> list[tuple[str, str, str, str]]:
    found: list[tuple[str, str, str, str]] = []
    for vs_id, resource in sources.value_sets.items():
        for part in ("include", "exclude"):
            for entry in (resource.get("compose") or {}).get(part) or []:
                items = [*(entry.get("concept") or []), *(entry.get("filter") or [])]
                for item in items:
                    status = _verification(item)
                    if status and status != "verified":
                        code = str(item.get("code") or item.get("value") or "")
                        found.append((vs_id, str(entry.get("system", "")), code, status))
    regions = sources.documents.get("fhir_mappings/data/body-regions.json", {})
    for code, entry in (regions.get("precoordinated_sided_sites") or {}).items():
        if isinstance(entry, Mapping) and entry.get("verification") not in (None, "verified"):
            found.append(("body-regions.json", "http://snomed.info/sct", code, str(entry["verification"])))
    return found


def _verification_part(sources: KnowledgeSources) -> list[Block]:
    unverified = _unverified_codes(sources)
    statuses = Counter(
        _verification(item) or "not stated"
        for resource in sources.value_sets.values()
        for part in ("include", "exclude")
        for entry in (resource.get("compose") or {}).get(part) or []
        for item in entry.get("concept") or []
    )
    return [
        Heading(2, "Verification status of codes", "verification"),
        Paragraph(
            "Exact codes by verification status: "
            + (", ".join(f"{status} {count}" for status, count in sorted(statuses.items())) or "none")
            + ". ICD-10-CM entries were checked against the CMS ICD-10-CM FY2026 tabular list (with the "
            "April 2026 update). Codes below are not verified: check them on a terminology server before "
            "clinical use."
        ),
        Collapsed(
            f"Codes not verified: {len(unverified)}",
            (Table(("Where", "System", "Code", "Status"), tuple(unverified)),),
        )
        if unverified
        else Paragraph("No code is marked unverified."),
    ]


def _files_part(sources: KnowledgeSources) -> list[Block]:
    rows = []
    for name, document in sources.documents.items():
        named_sources = list(document.get("sources") or [])
        if isinstance(document.get("source"), str):
            named_sources.append(document["source"])
        notes = "; ".join(str(s) for s in named_sources) or str(
            document.get("_comment") or document.get("description") or ""
        )
        value_sets = [vs_id for vs_id, file in sources.value_set_files.items() if file == name]
        if value_sets:
            names = ", ".join(value_sets)
            notes = f"{len(value_sets)} ValueSets ({names}), each naming its sources (see value sets)"
        version = document.get("version") or ", ".join(
            sorted({str(sources.value_sets[v].get("version", "")) for v in value_sets})
        )
        rows.append((name, str(version), notes))
    return [
        Heading(2, "Knowledge files", "files"),
        Paragraph("Every data file the service and its cards read, with its version and stated sources."),
        Table(("File", "Version", "Sources / notes"), tuple(rows)),
    ]


def _risk_knowledge_part(sources: KnowledgeSources) -> list[Block]:
    """Antithrombotic ingredients and the names read in text, lab units, and the site risks."""
    knowledge = sources.knowledge
    excluded = knowledge.policy.antithrombotic_excluded_ingredients
    drugs = tuple(
        (
            i.display,
            i.drug_class,
            f"`{i.value_set}`" + (f", `{i.condition_value_set}`" if i.condition_value_set else ""),
            ", ".join(i.names),
            "no (policy: antithrombotic_excluded_ingredients)" if i.key in excluded else "yes",
        )
        for i in knowledge.antithrombotics.ingredients
    )
    units = tuple(
        (
            test.display,
            f"`{test.value_set}`",
            test.canonical_unit,
            "; ".join(f"{unit} x {factor:g}" for unit, factor in test.factors.items())
            + ("; no unit x 1" if test.unitless_allowed else ""),
        )
        for test in knowledge.lab_tests
    )
    regions = knowledge.body_regions.region_displays
    site_document = sources.documents.get("fhir_mappings/data/site-risks.json", {})
    words = {
        code: ", ".join(entry.get("text_keywords") or []) or "none"
        for code, entry in (site_document.get("site_risks") or {}).items()
    }
    risks = tuple(
        (risk.code, ", ".join(regions[r] for r in sorted(risk.regions)), words.get(risk.code, ""))
        for risk in knowledge.site_risks
    )
    return [
        Heading(2, "Antithrombotic drugs, laboratory units and site risks", "bleeding-and-sites"),
        Paragraph(
            "Antithrombotic therapy also counts the long-term-use codes in "
            f"`{knowledge.antithrombotics.condition_value_set}`. A drug with none of the listed codes is "
            "recognised by a name below (whole word, any case) and the card says it was matched by name."
        ),
        Table(("Ingredient", "Class", "Value sets", "Names read in text", "Counted"), drugs),
        Paragraph(
            "Units are compared after normalising case, spaces, micro signs and '^'; a result in any other "
            "unit is reported (lab-unit-unknown), never converted."
        ),
        Table(("Test", "Value set", "Canonical unit", "Accepted units (x factor)"), units),
        Table(("Site risk", "Order regions", "Words in the site text"), risks),
    ]


def _precautions_part(sources: KnowledgeSources) -> list[Block]:
    """The precaution rules of ``precautions.json``: what each reads and where it applies."""
    knowledge = sources.knowledge
    regions = knowledge.body_regions.region_displays
    document = sources.documents.get("fhir_mappings/data/precautions.json", {})
    words = {
        code: ", ".join(entry.get("text_names") or []) or "none"
        for scope in ("patient_conditions", "limb_conditions", "site_conditions")
        for code, entry in (document.get(scope) or {}).items()
    }
    scopes = (
        ("wherever the needle goes", knowledge.precautions.patient),
        ("an order on a limb (or at an unknown site)", knowledge.precautions.limb),
        ("an order in the region and side of the condition", knowledge.precautions.site),
    )
    rows = tuple(
        (
            rule.code,
            scope,
            ", ".join(
                f"`{vs}`"
                for vs in dict.fromkeys(
                    (
                        *rule.value_sets,
                        *rule.medication_value_sets,
                        *rule.allergy_value_sets,
                        *rule.procedure_value_sets,
                    )
                )
            ),
            ", ".join(regions[r] for r in sorted(rule.order_regions)) or "any",
            words.get(rule.code, "none"),
        )
        for scope, rules in scopes
        for rule in rules
    )
    return [
        Heading(2, "Precautions from the chart", "precautions"),
        Paragraph(
            "Conditions (and, where named, current medications, allergies and completed procedures) that "
            "give a precaution. A site-scoped rule matches the condition's region and side to the ordered "
            "site as local infection does; with a side unknown it still warns. Words are read only in a "
            "record with no ICD-10-CM or SNOMED CT coding, and such a match is shown as made by name."
        ),
        Table(("Finding", "Applies to", "Value sets", "Order regions", "Words read in text"), rows),
    ]


def _collapsed(summary: str, table: Table) -> Block:
    """A table collapsed behind ``summary`` when it is long (more rows than fit a screen)."""
    return Collapsed(summary, (table,)) if len(table.rows) > COLLAPSE_ROWS else table


def _sources_of(resource: Mapping[str, Any]) -> list[str]:
    return [
        str(ext.get("valueString"))
        for ext in resource.get("extension") or []
        if isinstance(ext, Mapping) and ext.get("url") == SOURCE_EXTENSION
    ]


def _verification(item: Mapping[str, Any]) -> str | None:
    for ext in item.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == VERIFICATION_EXTENSION:
            return str(ext.get("valueCode") or ext.get("valueString") or "")
    return None


def _filter_values(resource: Mapping[str, Any], part: str) -> list[str]:
    return [
        str(item.get("value", ""))
        for entry in (resource.get("compose") or {}).get(part) or []
        for item in entry.get("filter") or []
    ]


def _expansion_summary(resource: Mapping[str, Any]) -> str:
    """The size of the ValueSet: its shipped expansion when there is one, else what its compose holds."""
    expansion = resource.get("expansion")
    if isinstance(expansion, Mapping):
        contains = expansion.get("contains") or []
        by_system = Counter(str(c.get("system", "")) for c in contains if isinstance(c, Mapping))
        total = expansion.get("total", len(contains))
        parts = ", ".join(f"{count} {_system_name(system)}" for system, count in sorted(by_system.items()))
        when = f", expanded {expansion['timestamp']}" if expansion.get("timestamp") else ""
        return f"{total} codes in the shipped expansion ({parts}){when}"
    text = f"{len(_concepts(resource, 'include'))} exact codes"
    if prefixes := _filter_values(resource, "include"):
        text += f", {len(prefixes)} ICD-10-CM prefixes (each with all its descendants)"
    if excluded := _filter_values(resource, "exclude"):
        text += f", {len(excluded)} excluded prefixes"
    return text + "; no shipped expansion"


def _concepts(resource: Mapping[str, Any], part: str) -> list[tuple[str, str]]:
    return [
        (str(entry.get("system", "")), str(concept.get("code", "")))
        for entry in (resource.get("compose") or {}).get(part) or []
        for concept in entry.get("concept") or []
    ]


def _title(resource: Mapping[str, Any], vs_id: str) -> str:
    return str(resource.get("title") or resource.get("name") or vs_id)


def _system_name(system: str) -> str:
    names = {
        "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
        "http://snomed.info/sct": "SNOMED CT",
        "http://loinc.org": "LOINC",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
        "http://www.ama-assn.org/go/cpt": "CPT",
        "http://www.cms.gov/Medicare/Coding/ICD10": "ICD-10-PCS",
    }
    return names.get(system, system)


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True)
    return str(value)


# --- rendering ----------------------------------------------------------------------------------------------


def render(blocks: Sequence[Block], report_format: ReportFormat) -> str:
    """The blocks as Markdown or as a standalone HTML page."""
    return render_html(blocks) if report_format == "html" else render_markdown(blocks)


def render_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown with a table of contents; table cells have pipes escaped and line breaks
    flattened; collapsed content is shown in full under its summary."""
    out: list[str] = []
    contents = _contents(blocks)
    for index, block in enumerate(blocks):
        out += _markdown_block(block)
        if index == 0 and contents:
            out.append("**Contents:** " + " · ".join(f"[{text}](#{anchor})" for anchor, text in contents))
    return "\n\n".join(out) + "\n"


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Heading):
        heading = f"{'#' * block.level} {_one_line(block.text)}"
        return [f'<a id="{block.anchor}"></a>\n{heading}' if block.anchor else heading]
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Bullets):
        return ["\n".join(f"- {_one_line(item)}" for item in block.items)]
    if isinstance(block, Collapsed):
        return [f"**{_one_line(block.summary)}**"] + [
            line for inner in block.blocks for line in _markdown_block(inner)
        ]
    lines = [
        "| " + " | ".join(_cell(h) for h in block.headers) + " |",
        "|" + "|".join("---" for _ in block.headers) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
    return ["\n".join(lines)]


def _contents(blocks: Sequence[Block]) -> list[tuple[str, str]]:
    """(anchor, text) of every second-level heading: the table of contents."""
    return [(b.anchor, b.text) for b in blocks if isinstance(b, Heading) and b.level == 2 and b.anchor]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("\\", "\\\\").replace("|", "\\|") or " "


_CSS = (
    "body{font-family:system-ui,Arial,sans-serif;line-height:1.45;margin:2rem;color:#111}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}"
    "th,td{border:1px solid #999;padding:.25rem .5rem;vertical-align:top;text-align:left}"
    "th{background:#eee}h2{margin-top:2.5rem;border-bottom:2px solid #333}"
    "code{background:#f1f1f1;padding:0 .2rem;border-radius:.2rem}"
    "details{margin:.5rem 0 1rem}summary{cursor:pointer;font-weight:600}"
    "nav ul{columns:2;list-style:none;padding-left:0}"
    "@media print{body{margin:0}h2,h3{break-after:avoid}tr{break-inside:avoid}}"
)


def render_html(blocks: Sequence[Block]) -> str:
    """A standalone HTML page (no external assets) with a table of contents; every text from the data files
    is escaped; long tables are collapsed."""
    e = html.escape
    title = next((b.text for b in blocks if isinstance(b, Heading)), "Rule base")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head>",
        "<body>",
    ]
    contents = _contents(blocks)
    for index, block in enumerate(blocks):
        out.append(_html_block(block))
        if index == 0 and contents:
            items = "".join(f'<li><a href="#{e(anchor)}">{e(text)}</a></li>' for anchor, text in contents)
            out.append(f'<nav aria-label="Contents"><h2 id="contents">Contents</h2><ul>{items}</ul></nav>')
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _html_block(block: Block) -> str:
    e = html.escape
    if isinstance(block, Heading):
        anchor = f' id="{e(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{e(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{_inline_html(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Collapsed):
        inner = "".join(_html_block(b) for b in block.blocks)
        return f"<details><summary>{e(block.summary)}</summary>{inner}</details>"
    head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CODE_SPAN = re.compile(r"`([^`]+)`")
_BOLD_SPAN = re.compile(r"\*\*(.+?)\*\*")


def _inline_html(text: str) -> str:
    """Escaped text with the report's own markdown: ``code`` spans and ``**bold**`` (applied after
    escaping, so nothing from the data files becomes a tag)."""
    escaped = html.escape(text)
    with_code = _CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    return _BOLD_SPAN.sub(lambda m: f"<strong>{m.group(1)}</strong>", with_code)
