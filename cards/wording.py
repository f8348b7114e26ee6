"""Card wording, risk-disclosure content and override reasons, loaded once from ``cards/data``."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir.resources.R4B.codesystem import CodeSystem
from pydantic import ValidationError

DATA_DIR = Path(__file__).parent / "data"


class WordingError(RuntimeError):
    """A wording file is missing, malformed, or lacks text for a finding code."""


@dataclass(frozen=True, slots=True)
class SummaryTemplate:
    """A summary sentence used when all its ``requires`` facts are present."""

    requires: frozenset[str]
    text: str


@dataclass(frozen=True, slots=True)
class FindingWording:
    """The text of one finding's card."""

    summaries: tuple[SummaryTemplate, ...]
    why: str
    action: str
    rule_source: str


@dataclass(frozen=True, slots=True)
class Risk:
    """One risk to disclose, as the seed states it, with what the surveys found."""

    text: str
    rate: str | None
    published: str | None
    verification: str | None


@dataclass(frozen=True, slots=True)
class CardWording:
    """Everything the card builder says."""

    version: str
    source_label: str
    findings: Mapping[str, FindingWording]
    risks: tuple[Risk, ...]
    aftercare: tuple[str, ...]
    patient_instruction_heading: str
    override_system: str
    override_reasons: tuple[tuple[str, str], ...]
    site_lines: Mapping[str, str] = field(default_factory=dict)  # site-risk code -> disclosure line
    fact_labels: Mapping[str, str] = field(default_factory=dict)  # fact name -> label in the card detail
    # aftercare text -> the site-risk codes it is told for (absent: told for every order)
    aftercare_site_risks: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def aftercare_for(self, site_risks: Sequence[str]) -> tuple[str, ...]:
        """The aftercare items told for an order with these site-risk codes."""
        return tuple(
            text
            for text in self.aftercare
            if text not in self.aftercare_site_risks or self.aftercare_site_risks[text] & set(site_risks)
        )


def load_card_wording(finding_codes: Iterable[str], data_dir: Path = DATA_DIR) -> CardWording:
    """Load and check the wording; every finding code must have wording."""
    texts = _read_json(data_dir / "card-text.json")
    findings = {code: _finding_wording(code, entry) for code, entry in texts["findings"].items()}
    missing = sorted(set(finding_codes) - set(findings))
    if missing:
        raise WordingError(f"card-text.json: no wording for finding codes {missing}")
    disclosure = _read_json(data_dir / "risk-disclosure.json")
    overrides = _read_json(data_dir / "override-reasons.json")
    try:
        CodeSystem.model_validate(overrides)
    except ValidationError as error:
        raise WordingError(f"override-reasons.json: not a valid FHIR CodeSystem: {error}") from error
    try:
        return CardWording(
            version=str(texts["version"]),
            source_label=str(texts["source_label"]),
            findings=findings,
            risks=tuple(
                Risk(r["text"], r.get("rate"), r.get("published"), r.get("verification"))
                for r in disclosure["risks"]
            ),
            aftercare=tuple(item["text"] for item in disclosure["aftercare"]),
            patient_instruction_heading=str(disclosure["patient_instruction_heading"]),
            override_system=str(overrides["url"]),
            override_reasons=tuple((c["code"], c["display"]) for c in overrides["concept"]),
            site_lines={code: str(line["text"]) for code, line in disclosure.get("site_lines", {}).items()},
            fact_labels={str(name): str(label) for name, label in texts.get("fact_labels", {}).items()},
            aftercare_site_risks={
                str(item["text"]): frozenset(item["only_for_site_risks"])
                for item in disclosure["aftercare"]
                if "only_for_site_risks" in item
            },
        )
    except (KeyError, TypeError) as error:
        raise WordingError(f"wording files: missing or malformed {error}") from error


def template_fields(text: str) -> set[str]:
    """The ``{placeholders}`` of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _finding_wording(code: str, entry: Mapping[str, Any]) -> FindingWording:
    try:
        summaries = tuple(SummaryTemplate(frozenset(s["requires"]), s["text"]) for s in entry["summaries"])
        wording = FindingWording(summaries, entry["why"], entry["action"], entry["rule_source"])
    except (KeyError, TypeError) as error:
        raise WordingError(f"card-text.json: finding {code} lacks {error}") from error
    for summary in summaries:
        if not template_fields(summary.text) <= summary.requires:
            raise WordingError(f"card-text.json: {code} summary uses facts it does not require")
    if not summaries or summaries[-1].requires:
        raise WordingError(f"card-text.json: {code} needs a last summary that requires no facts")
    return wording


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as error:
        raise WordingError(f"{path.name}: {error}") from error
