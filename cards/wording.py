"""Card wording, risk-disclosure content and override reasons, loaded once from ``cards/data``.

Wording may quote policy values: ``{policy:platelet_contraindication_below}`` in a summary, ``why`` or
``action`` is replaced at load time by the value in effect (the shipped ``policy.json``, or the site's policy
file when the caller passes its :class:`~fhir_mappings.policy.Policy`), so a card and the rule-base page say
the number the rule uses.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir.resources.R4B.codesystem import CodeSystem
from pydantic import ValidationError

from fhir_mappings.policy import Policy, parse_policy

DATA_DIR = Path(__file__).parent / "data"
POLICY_FILE = Path(__file__).parent.parent / "fhir_mappings" / "data" / "policy.json"
_POLICY_PLACEHOLDER = re.compile(r"\{policy:(\w+)\}")


class WordingError(RuntimeError):
    """A wording file is missing, malformed, or lacks text for a finding code."""


@dataclass(frozen=True, slots=True)
class SummaryTemplate:
    """A summary sentence used when all its ``requires`` facts are present."""

    requires: frozenset[str]
    text: str


@dataclass(frozen=True, slots=True)
class HookText:
    """What a card says on one kind of hook: summary candidates, why (first template whose facts are
    present), and what to do."""

    summaries: tuple[SummaryTemplate, ...]
    why: tuple[SummaryTemplate, ...]
    action: str


@dataclass(frozen=True, slots=True)
class FindingWording:
    """The text of one finding's card: for an order, and (when it differs) for patient-view, where no order
    exists yet and the card speaks of dry needling being considered."""

    summaries: tuple[SummaryTemplate, ...]
    why: tuple[SummaryTemplate, ...]
    action: str
    rule_source: str
    patient_view: HookText | None = None
    also_kinds: frozenset[str] = frozenset()  # other kinds a rule may give the finding (e.g. notice)

    def text(self, with_order: bool) -> HookText:
        """The wording for a card about an order (``with_order``) or about the patient only."""
        if not with_order and self.patient_view is not None:
            return self.patient_view
        return HookText(self.summaries, self.why, self.action)


@dataclass(frozen=True, slots=True)
class Risk:
    """One risk to disclose, as the patient information sheet states it, with what the surveys found
    (``published``: shown on the rule-base page only, never on a card)."""

    text: str
    rate: str | None
    published: str | None
    verification: str | None
    brief: str = ""  # the risk and its rate in a few words, for the card


@dataclass(frozen=True, slots=True)
class OverrideReasons:
    """The coded override reasons (a CodeSystem) and which of them each finding offers."""

    system: str
    displays: Mapping[str, str]  # code -> display
    by_finding: Mapping[str, tuple[str, ...]]  # finding code -> reason codes ([] = none)
    by_kind: Mapping[str, tuple[str, ...]]  # finding kind -> reason codes, for findings not listed

    def for_finding(self, code: str, kind: str) -> tuple[tuple[str, str], ...]:
        """(code, display) of the reasons offered on ``code``'s card."""
        chosen = self.by_finding.get(code, self.by_kind.get(kind, ()))
        return tuple((reason, self.displays[reason]) for reason in chosen)


@dataclass(frozen=True, slots=True)
class CardWording:
    """Everything the card builder says."""

    version: str
    source_label: str
    findings: Mapping[str, FindingWording]
    risks: tuple[Risk, ...]
    aftercare: tuple[str, ...]
    patient_instruction_heading: str
    overrides: OverrideReasons
    site_lines: Mapping[str, str] = field(default_factory=dict)  # site-risk code -> disclosure line
    fact_labels: Mapping[str, str] = field(default_factory=dict)  # fact name -> label in the card detail
    order_facts: frozenset[str] = frozenset()  # facts about an order: not shown on a card without one
    wording_facts: frozenset[str] = frozenset()  # facts that only choose the wording: never listed as facts
    aftercare_briefs: Mapping[str, str] = field(default_factory=dict)  # aftercare text -> its brief
    site_briefs: Mapping[str, str] = field(default_factory=dict)  # site-risk code -> brief card line
    kind_prefixes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> how summaries start
    # aftercare text -> the site-risk codes it is told for (absent: told for every order)
    aftercare_site_risks: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def aftercare_for(self, site_risks: Sequence[str]) -> tuple[str, ...]:
        """The aftercare items told for an order with these site-risk codes."""
        return tuple(
            text
            for text in self.aftercare
            if text not in self.aftercare_site_risks or self.aftercare_site_risks[text] & set(site_risks)
        )

    def aftercare_brief_for(self, site_risks: Sequence[str]) -> tuple[str, ...]:
        """The card's brief aftercare for an order with these site-risk codes."""
        return tuple(
            self.aftercare_briefs[text]
            for text in self.aftercare_for(site_risks)
            if text in self.aftercare_briefs
        )


def load_card_wording(
    finding_codes: Iterable[str], data_dir: Path = DATA_DIR, *, policy: Policy | None = None
) -> CardWording:
    """Load and check the wording; every finding code must have wording. ``{policy:NAME}`` placeholders are
    filled from ``policy`` (default: the shipped ``policy.json``)."""
    policy = policy or shipped_policy()
    texts = _read_json(data_dir / "card-text.json")
    findings = {code: _finding_wording(code, entry, policy) for code, entry in texts["findings"].items()}
    missing = sorted(set(finding_codes) - set(findings))
    if missing:
        raise WordingError(f"card-text.json: no wording for finding codes {missing}")
    disclosure = _read_json(data_dir / "risk-disclosure.json")
    try:
        return CardWording(
            version=str(texts["version"]),
            source_label=str(texts["source_label"]),
            findings=findings,
            risks=tuple(
                Risk(
                    r["text"],
                    r.get("rate"),
                    r.get("published"),
                    r.get("verification"),
                    str(r.get("brief", "")),
                )
                for r in disclosure["risks"]
            ),
            aftercare=tuple(item["text"] for item in disclosure["aftercare"]),
            patient_instruction_heading=str(disclosure["patient_instruction_heading"]),
            overrides=load_override_reasons(data_dir),
            site_lines={code: str(line["text"]) for code, line in disclosure.get("site_lines", {}).items()},
            fact_labels={str(name): str(label) for name, label in texts.get("fact_labels", {}).items()},
            order_facts=frozenset(str(name) for name in texts.get("order_facts", [])),
            wording_facts=frozenset(str(name) for name in texts.get("wording_facts", [])),
            site_briefs={
                code: str(line["brief"])
                for code, line in disclosure.get("site_lines", {}).items()
                if line.get("brief")
            },
            aftercare_briefs={
                str(item["text"]): str(item["brief"]) for item in disclosure["aftercare"] if item.get("brief")
            },
            kind_prefixes={
                str(kind): tuple(str(p) for p in prefixes)
                for kind, prefixes in texts.get("kind_prefixes", {}).items()
            },
            aftercare_site_risks={
                str(item["text"]): frozenset(item["only_for_site_risks"])
                for item in disclosure["aftercare"]
                if "only_for_site_risks" in item
            },
        )
    except (KeyError, TypeError) as error:
        raise WordingError(f"wording files: missing or malformed {error}") from error


def load_override_reasons(data_dir: Path = DATA_DIR) -> OverrideReasons:
    """The override-reason CodeSystem and the per-finding choice of reasons, checked against each other."""
    codes = _read_json(data_dir / "override-reasons.json")
    try:
        CodeSystem.model_validate(codes)
    except ValidationError as error:
        raise WordingError(f"override-reasons.json: not a valid FHIR CodeSystem: {error}") from error
    choice = _read_json(data_dir / "override-reasons-by-finding.json")
    try:
        displays = {str(c["code"]): str(c["display"]) for c in codes["concept"]}
        by_finding = {str(code): tuple(entry["reasons"]) for code, entry in choice["findings"].items()}
        by_kind = {str(kind): tuple(reasons) for kind, reasons in choice["defaults"].items()}
        if choice.get("codeSystem") != codes["url"]:
            raise WordingError(
                "override-reasons-by-finding.json: codeSystem is not override-reasons.json's url"
            )
    except (KeyError, TypeError) as error:
        raise WordingError(f"override reasons: missing or malformed {error}") from error
    unknown = sorted({r for rs in [*by_finding.values(), *by_kind.values()] for r in rs} - displays.keys())
    if unknown:
        raise WordingError(f"override-reasons-by-finding.json: reasons not in the CodeSystem: {unknown}")
    return OverrideReasons(str(codes["url"]), displays, by_finding, by_kind)


def shipped_policy() -> Policy:
    """The shipped ``policy.json`` (no site overrides)."""
    try:
        return parse_policy(json.loads(POLICY_FILE.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise WordingError(f"policy.json: {error}") from error


def policy_names(text: str) -> list[str]:
    """The policy settings a text quotes (``{policy:NAME}``), in order."""
    return _POLICY_PLACEHOLDER.findall(text)


def fill_policy(text: str, policy: Policy) -> str:
    """``text`` with every ``{policy:NAME}`` replaced by the setting's value in words."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in Policy.__dataclass_fields__:
            raise WordingError(f"unknown policy setting {{policy:{name}}}")
        return policy_value_text(getattr(policy, name))

    return _POLICY_PLACEHOLDER.sub(value, text)


def policy_value_text(value: object) -> str:
    """A policy value as a reader sees it: 4.0 -> "4.0", 20.0 -> "20", a set -> "a, b"."""
    if isinstance(value, frozenset | set | list | tuple):
        return ", ".join(sorted(str(item) for item in value))
    if isinstance(value, float) and value.is_integer() and abs(value) >= 10:
        return str(int(value))
    return str(value)


def template_fields(text: str) -> set[str]:
    """The ``{placeholders}`` of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _finding_wording(code: str, entry: Mapping[str, Any], policy: Policy) -> FindingWording:
    try:
        base = _hook_text(code, entry, policy)
        view = entry.get("patient_view")
        patient_view = (
            _hook_text(code, {**entry, **view}, policy, "patient_view ")
            if isinstance(view, Mapping)
            else None
        )
        also_kinds = frozenset(str(kind) for kind in entry.get("also_kinds", ()))
        return FindingWording(
            base.summaries, base.why, base.action, str(entry["rule_source"]), patient_view, also_kinds
        )
    except (KeyError, TypeError) as error:
        raise WordingError(f"card-text.json: finding {code} lacks {error}") from error


def _hook_text(code: str, entry: Mapping[str, Any], policy: Policy, where: str = "") -> HookText:
    summaries = _templates(code, entry["summaries"], policy, f"{where}summary")
    why = _templates(code, entry["why"], policy, f"{where}why")
    return HookText(summaries, why, fill_policy(str(entry["action"]), policy))


def _templates(code: str, value: Any, policy: Policy, what: str) -> tuple[SummaryTemplate, ...]:
    """A list of ``{"requires", "text"}`` (first whose facts are present wins), or one text needing none."""
    items = [{"requires": [], "text": value}] if isinstance(value, str) else value
    templates = tuple(
        SummaryTemplate(frozenset(item["requires"]), fill_policy(str(item["text"]), policy)) for item in items
    )
    for template in templates:
        if not template_fields(template.text) <= template.requires:
            raise WordingError(f"card-text.json: {code} {what} uses facts it does not require")
    if not templates or templates[-1].requires:
        raise WordingError(f"card-text.json: {code} needs a last {what} that requires no facts")
    return templates


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as error:
        raise WordingError(f"{path.name}: {error}") from error
