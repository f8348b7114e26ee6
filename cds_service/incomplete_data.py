"""The ``patient-data-incomplete`` finding: which data could not be read, and which checks that leaves undone.

What each prefetch key covers is data (``data/patient-data.json``), checked against the catalog at start-up.
Data that could not be read never backs a "negative" statement: the findings that state an absence in a key
(``negativeFindings``, e.g. ``no-indication-found`` for the problem list) are dropped when it is unavailable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fhir_mappings import Knowledge
from fhir_mappings.findings import Finding, FindingKind
from fhir_mappings.references import MEDICATION_REFERENCES, RESULT_REFERENCES

PATIENT_DATA_FILE = Path(__file__).parent / "data" / "patient-data.json"
FINDING_CODE = "patient-data-incomplete"


@dataclass(frozen=True, slots=True)
class KeyCoverage:
    """What one prefetch key holds, and the rules that need it."""

    data: str
    unchecked: tuple[str, ...]
    negative_findings: tuple[str, ...] = ()


def load_key_coverage(prefetch_keys: Iterable[str], path: Path = PATIENT_DATA_FILE) -> dict[str, KeyCoverage]:
    """Read the file; every prefetch key of the catalog must be described (fail fast)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    coverage = {
        key: KeyCoverage(
            str(entry["data"]),
            tuple(str(item) for item in entry["unchecked"]),
            tuple(str(code) for code in entry.get("negativeFindings", ())),
        )
        for key, entry in document["keys"].items()
    }
    undescribed = sorted(set(prefetch_keys) - set(coverage))
    if undescribed:
        raise ValueError(f"{path.name}: no entry for prefetch keys {undescribed}")
    return coverage


def check_negative_findings(coverage: Mapping[str, KeyCoverage], knowledge: Knowledge) -> None:
    """Every ``negativeFindings`` code must be a known finding code (fail fast at start-up: a typo would
    silently keep the negative statement)."""
    unknown = sorted(
        {code for entry in coverage.values() for code in entry.negative_findings} - set(knowledge.findings)
    )
    if unknown:
        raise ValueError(f"{PATIENT_DATA_FILE.name}: unknown finding codes in negativeFindings: {unknown}")


def drop_unsupported_negatives(
    findings: Iterable[Finding], unavailable: Iterable[str], coverage: Mapping[str, KeyCoverage]
) -> list[Finding]:
    """``findings`` without those that state an absence in data that could not be read (a rule found
    nothing there because there was nothing to look at, not because the chart has nothing)."""
    unsupported = {code for key in unavailable if key in coverage for code in coverage[key].negative_findings}
    return [finding for finding in findings if finding.code not in unsupported]


def incomplete_data_finding(
    unavailable: Mapping[str, str],
    coverage: Mapping[str, KeyCoverage],
    knowledge: Knowledge,
    order_references: tuple[str, ...],
) -> Finding:
    """One finding naming every key that could not be read, why, and the checks it leaves undone (when no
    key could be read, it says so instead: every data label and check would not fit a card summary)."""
    keys = [key for key in coverage if key in unavailable] + sorted(set(unavailable) - set(coverage))
    data = [coverage[key].data if key in coverage else key for key in keys]
    covered = [coverage[key] for key in keys if key in coverage]
    unchecked = list(dict.fromkeys(item for entry in covered for item in entry.unchecked))
    reason = "; ".join(f"{label}: {unavailable[key]}" for key, label in zip(keys, data, strict=True))
    facts = {
        "missing": _and_list(data),
        "unchecked": ", ".join(unchecked) if unchecked else "some checks",
        "reason": reason,
    }
    prefetched = set(coverage) - {MEDICATION_REFERENCES, RESULT_REFERENCES}
    if prefetched <= set(unavailable):  # nothing could be read: the list of every check is no summary
        facts = {"nothing_read": "any patient data", "reason": reason}
    return Finding(
        code=FINDING_CODE,
        kind=FindingKind(knowledge.findings[FINDING_CODE].kind),
        order_references=order_references,
        facts=facts,
    )


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
