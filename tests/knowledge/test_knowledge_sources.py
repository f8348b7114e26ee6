"""Every knowledge entry names its source (architecture.md section 2), in every knowledge file shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.paths import ROOT

from fhir_mappings.knowledge import DATA_DIR, SOURCE_EXTENSION

CARDS_DATA = ROOT / "cards" / "data"


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _named(text: Any) -> bool:
    return isinstance(text, str) and len(text.strip()) >= 10


def _entries() -> list[tuple[str, Any]]:
    """(where, the source text(s)) for every knowledge entry."""
    entries: list[tuple[str, Any]] = []
    for path in sorted((DATA_DIR / "valuesets").glob("*.json")):
        for entry in _read(path)["entry"]:
            resource = entry["resource"]
            sources = [
                e.get("valueString") for e in resource.get("extension", []) if e["url"] == SOURCE_EXTENSION
            ]
            entries.append((f"{path.name}:{resource['id']}", sources))
    for name, setting in _read(DATA_DIR / "policy.json")["settings"].items():
        entries.append((f"policy.json:{name}", [setting.get("source")]))
    for name in ("pregnancy-text.json", "body-regions.json", "condition-text.json"):
        entries.append((name, _read(DATA_DIR / name).get("sources")))
    for index, rule in enumerate(_read(DATA_DIR / "body-regions.json")["icd_site_digit_rules"]):
        entries.append((f"body-regions.json:icd_site_digit_rules[{index}]", [rule.get("source")]))
    for code, wording in _read(CARDS_DATA / "card-text.json")["findings"].items():
        entries.append((f"card-text.json:{code}", [wording.get("rule_source")]))
    return entries


ENTRIES = _entries()


def test_the_entries_cover_every_knowledge_area() -> None:
    files = {where.split(":")[0] for where, _ in ENTRIES}
    assert {"pregnancy.json", "bleeding.json", "indications.json", "infection.json", "orders.json"} <= files
    assert {"policy.json", "pregnancy-text.json", "body-regions.json", "card-text.json"} <= files
    assert len(ENTRIES) > 60


@pytest.mark.parametrize(
    ("where", "sources"), [pytest.param(where, _value_1, id=where) for where, _value_1 in ENTRIES]
)
def test_every_knowledge_entry_names_a_source(where: str, sources: Any) -> None:
    assert isinstance(sources, list) and sources, f"{where}: no source"
    assert all(_named(source) for source in sources), f"{where}: empty or placeholder source {sources!r}"


@pytest.mark.parametrize("bad", [None, [], [""], ["  "], ["tbd"]])
def test_the_source_check_can_fail(bad: Any) -> None:
    with pytest.raises(AssertionError):
        test_every_knowledge_entry_names_a_source("example", bad)
