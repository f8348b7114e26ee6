"""What each vignette's cards say, not only which finding codes they carry (README "Card contract").

For every clinical vignette on both order hooks, each card has the indicator of its finding's kind, a
summary written from one of its finding's summary templates (``cards/data/card-text.json``), and targets the
orders the hook acts on: the selected order on order-select, the vignette's draft orders on order-sign; a
critical card's delete actions remove only those orders.
"""

from __future__ import annotations

import json
import re

import pytest
from support.paths import ROOT
from support.vignette_answers import VignetteAnswers
from support.vignettes import RUN_DATE, load_vignettes

from fhir_mappings import Knowledge

VIGNETTES = {v.slug: v for v in load_vignettes(RUN_DATE)}
CARD_TEXT = ROOT / "cards" / "data" / "card-text.json"
INDICATOR_OF_KIND = {
    "contraindication": "critical",
    "precaution": "warning",
    "missing-data": "warning",
    "indication": "info",
    "disclosure": "info",
    "notice": "info",
}
CARD_FINDINGS = json.loads(CARD_TEXT.read_text(encoding="utf-8"))["findings"]


def _summary_patterns() -> dict[str, list[re.Pattern[str]]]:
    """Each finding code's summary templates as patterns: ``{ga}`` and the like match any text."""
    findings = CARD_FINDINGS
    return {
        code: [
            re.compile(
                "".join(".+" if part.startswith("{") else re.escape(part) for part in _parts(t["text"]))
            )
            for t in entry["summaries"]
        ]
        for code, entry in findings.items()
    }


def _parts(template: str) -> list[str]:
    return [part for part in re.split(r"(\{[a-z_]+(?::[a-z_]+)?\})", template) if part]


SUMMARIES = _summary_patterns()


def test_the_summary_patterns_tell_summaries_apart() -> None:
    """The check below can fail: a precaution's wording does not pass for the contraindication's."""
    later = "Precaution: pregnancy, GA 20w1d: needle with care, avoid abdomen and pelvis"
    assert any(p.fullmatch(later) for p in SUMMARIES["pregnancy-later-trimester"])
    assert not any(p.fullmatch(later) for p in SUMMARIES["pregnancy-first-trimester"])


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("slug", sorted(VIGNETTES))
def test_each_card_has_its_kinds_indicator_and_summary_and_targets_the_hooks_orders(
    slug: str, hook: str, vignette_answers: VignetteAnswers, knowledge: Knowledge
) -> None:
    vignette = VIGNETTES[slug]
    drafts = {f"ServiceRequest/{resource['id']}" for resource in vignette.patient.draft_orders}
    targets = {vignette.patient.order_reference} if hook == "order-select" else drafts
    cards = vignette_answers.cards(vignette, hook)
    for card in cards:
        code = card["source"]["topic"]["code"]
        kinds = {knowledge.findings[code].kind, *CARD_FINDINGS[code].get("also_kinds", [])}
        assert card["indicator"] in {INDICATOR_OF_KIND[kind] for kind in kinds}, (slug, code)
        assert any(p.fullmatch(card["summary"]) for p in SUMMARIES[code]), (slug, code, card["summary"])
        orders = set(card["extension"]["dn-cds.orders"])
        assert orders and orders <= targets, (slug, code, orders, targets)
        deleted = {
            action["resourceId"]
            for suggestion in card.get("suggestions", [])
            for action in suggestion.get("actions", [])
            if action["type"] == "delete"
        }
        assert deleted <= targets, (slug, code, deleted)
        assert bool(deleted) is (card["indicator"] == "critical"), (slug, code)
