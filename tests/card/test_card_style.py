"""Cards read like a clinician's note, for every finding code and every demo patient on every hook.

The rules are general on purpose: they iterate over every finding code in finding-codes.json, every
wording variant in card-text.json, and every card the bundled demo patients produce, so findings and wording
added later are held to them too.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from functools import cache
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask

from cards import CardContext, CardWording, build_cards, load_card_wording
from cards.builder import evidence_text, unnest_brackets
from cards.wording import fill_policy
from cds_service.card_html import PatientCards
from cds_service.preview import demo_patient_cards
from cds_service.routes import ServiceState
from fhir_mappings import Evidence, Finding, FindingKind, Knowledge

TODAY = date(2026, 11, 26)  # the demo patients' authoredOn: their dates are as written
BANNED = ("seed", ".md", ".json", "section", "->", "policy:", "`", "LOINC 82810")
FHIR_REFERENCE = re.compile(r"\b([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}")
ORDER_WORD = re.compile(r"\border", re.IGNORECASE)
KIND_OF_INDICATOR = {"critical": "contraindication", "warning": ("precaution", "missing-data")}


@cache
def _is_resource_type(name: str) -> bool:
    try:
        get_fhir_model_class(name)
    except (KeyError, ValueError):
        return False
    return True


def raw_references(text: str) -> list[str]:
    """FHIR ``Type/id`` references in ``text`` (a FHIR resource type, a slash, an id)."""
    return [m.group(0) for m in FHIR_REFERENCE.finditer(text) if _is_resource_type(m.group(1))]


@pytest.fixture(scope="module")
def wording(knowledge: Knowledge) -> CardWording:
    return load_card_wording(knowledge.findings)


@pytest.fixture(scope="module")
def demo_cards(app: Flask) -> list[PatientCards]:
    state: ServiceState = app.extensions["dn_cds"]
    return demo_patient_cards(
        state.advisor, state.catalog, TODAY, handout="http://h.test/handout", source="http://h.test/knowledge"
    )


def _all_cards(demo_cards: list[PatientCards]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p.slug, h.hook, dict(card)) for p in demo_cards for h in p.hooks for card in h.cards]


# --- the checks themselves can fail ------------------------------------------------------------------------


def test_raw_reference_check_finds_fhir_references_only() -> None:
    assert raw_references("see Observation/dn-first-trimester-edd and Condition/c-1") == [
        "Observation/dn-first-trimester-edd",
        "Condition/c-1",
    ]
    assert raw_references("Low back pain/sciatica, 10*3/uL, x10^9/L, and/or") == []


# --- every wording, for every finding code ---------------------------------------------------------


def _texts(wording: CardWording, code: str, with_order: bool) -> list[str]:
    """The texts a card can show; on patient-view without the templates that need a fact about an order
    (never chosen there: the builder hides those facts)."""
    text = wording.findings[code].text(with_order)
    hidden = set() if with_order else wording.order_facts
    templates = [t for t in (*text.summaries, *text.why) if not t.requires & hidden]
    return [*(t.text for t in templates), text.action, wording.findings[code].rule_source]


@pytest.mark.parametrize(
    "with_order",
    [
        pytest.param(True, id="order"),
        pytest.param(False, id="patient-view"),
    ],
)
def test_no_wording_has_jargon_files_or_references(
    knowledge: Knowledge, wording: CardWording, with_order: bool
) -> None:
    found = [
        (code, banned, text)
        for code in knowledge.findings
        for text in _texts(wording, code, with_order)
        for banned in BANNED
        if banned.casefold() in text.casefold()
    ]
    assert found == []


def test_warning_and_critical_summaries_start_with_their_kind_in_words(
    knowledge: Knowledge, wording: CardWording
) -> None:
    warning_kinds = {"contraindication", "precaution", "missing-data"}
    warning_prefixes = tuple(p for kind in warning_kinds for p in wording.kind_prefixes.get(kind, ()))
    wrong = []
    for code, finding in knowledge.findings.items():
        kinds = {finding.kind, *wording.findings[code].also_kinds}  # a rule may say a finding as another kind
        prefixes = tuple(p for kind in kinds for p in wording.kind_prefixes.get(kind, ()))
        for with_order in (True, False):
            for summary in wording.findings[code].text(with_order).summaries:
                if kinds & warning_kinds or summary.text.startswith(prefixes):
                    if not summary.text.startswith(prefixes):
                        wrong.append((code, summary.text))
                elif summary.text.startswith(warning_prefixes):
                    wrong.append((code, summary.text))  # an info card must not look like a warning
    assert wrong == []
    assert wording.kind_prefixes["contraindication"] == ("Contraindicated:",)
    assert wording.kind_prefixes["precaution"] == ("Precaution:",)


def test_patient_view_wording_never_speaks_of_an_order(knowledge: Knowledge, wording: CardWording) -> None:
    """On patient-view no order exists: the card speaks of dry needling being considered."""
    found = [
        (code, text)
        for code in knowledge.findings
        for text in _texts(wording, code, with_order=False)
        if ORDER_WORD.search(text)
    ]
    assert found == []


def test_every_finding_offers_override_reasons_that_make_sense(
    knowledge: Knowledge, wording: CardWording
) -> None:
    overrides = wording.overrides
    for code, finding in knowledge.findings.items():
        reasons = dict(overrides.for_finding(code, finding.kind))
        assert all(display for display in reasons.values())
        if finding.kind in {"indication", "disclosure", "missing-data"}:
            assert reasons == {}, code  # nothing to override on an information or a check-first card
        if finding.kind == "contraindication":
            assert reasons, code
        if code.startswith("pregnancy") or code == "bleeding-disorder":
            assert "site-away-from-risk" not in reasons, code  # not a local problem
    assert "site-away-from-risk" in dict(overrides.for_finding("local-infection", "contraindication"))


def test_a_finding_code_not_listed_gets_its_kinds_default(wording: CardWording) -> None:
    """A finding added later (another branch's code) offers reasons before it is listed."""
    assert wording.overrides.for_finding("a-new-contraindication", "contraindication") == tuple(
        (code, wording.overrides.displays[code]) for code in wording.overrides.by_kind["contraindication"]
    )
    assert wording.overrides.for_finding("a-new-precaution", "precaution") == ()


def test_rules_quote_the_thresholds_in_effect(knowledge: Knowledge) -> None:
    """A site policy changes the number on the card, not only the rule."""
    site = dataclasses.replace(knowledge.policy, platelet_contraindication_below=30.0)
    shipped = load_card_wording(knowledge.findings)
    changed = load_card_wording(knowledge.findings, policy=site)
    assert "below 20 x10^9/L" in shipped.findings["severe-thrombocytopenia"].why[-1].text
    assert "below 30 x10^9/L" in changed.findings["severe-thrombocytopenia"].why[-1].text
    assert fill_policy("INR {policy:inr_precaution_above}", site) == "INR 3.0"


# --- every card the demo patients produce, on every hook ------------------------------------------


def test_the_demo_covers_every_hook_and_several_card_kinds(demo_cards: list[PatientCards]) -> None:
    cards = _all_cards(demo_cards)
    assert {hook for _, hook, _ in cards} == {"order-select", "order-sign", "patient-view"}
    assert {card["indicator"] for _, _, card in cards} == {"critical", "warning", "info"}


def test_no_demo_card_has_jargon_files_or_raw_references(demo_cards: list[PatientCards]) -> None:
    found = []
    for slug, hook, card in _all_cards(demo_cards):
        for field in ("summary", "detail"):
            text = card[field]
            found += [(slug, hook, field, b) for b in BANNED if b.casefold() in text.casefold()]
            found += [(slug, hook, field, ref) for ref in raw_references(text)]
    assert found == []


def test_demo_references_stay_in_the_card_extension(demo_cards: list[PatientCards]) -> None:
    with_evidence = [
        card for _, _, card in _all_cards(demo_cards) if card.get("extension", {}).get("dn-cds.evidence")
    ]
    assert with_evidence
    for card in with_evidence:
        assert all(raw_references(ref) == [ref] for ref in card["extension"]["dn-cds.evidence"])


def test_demo_warning_and_critical_summaries_start_with_their_kind(
    demo_cards: list[PatientCards], wording: CardWording
) -> None:
    for slug, hook, card in _all_cards(demo_cards):
        if card["indicator"] == "critical":
            assert card["summary"].startswith("Contraindicated:"), (slug, hook, card["summary"])
        elif card["indicator"] == "warning":
            starts = wording.kind_prefixes["precaution"] + wording.kind_prefixes["missing-data"]
            assert card["summary"].startswith(starts), (slug, hook, card["summary"])


def test_demo_patient_view_cards_never_mention_an_order(demo_cards: list[PatientCards]) -> None:
    found = [
        (slug, card["summary"], line)
        for slug, hook, card in _all_cards(demo_cards)
        if hook == "patient-view"
        for line in [card["summary"], *card["detail"].splitlines()]
        if ORDER_WORD.search(line)
    ]
    assert found == []
    assert all(
        "suggestions" not in card for _, hook, card in _all_cards(demo_cards) if hook == "patient-view"
    )


def test_demo_risk_disclosure_fits_one_screen(demo_cards: list[PatientCards]) -> None:
    disclosures = [
        card for _, _, card in _all_cards(demo_cards) if card["source"]["topic"]["code"] == "risk-disclosure"
    ]
    assert disclosures
    for card in disclosures:
        assert len(card["detail"]) < 700, len(card["detail"])
        assert "published" not in card["detail"].casefold()
        assert [link["label"] for link in card["links"]] == ["Printable patient handout: risks and aftercare"]


def test_demo_summaries_never_nest_brackets(demo_cards: list[PatientCards]) -> None:
    for _, _, card in _all_cards(demo_cards):
        assert unnest_brackets(card["summary"]) == card["summary"], card["summary"]


# --- the builder's general formatting --------------------------------------------------------------


def test_nested_brackets_are_flattened() -> None:
    assert (
        unnest_brackets("Bleeding disorder (Hemophilia A (mild)): stop")
        == "Bleeding disorder (Hemophilia A, mild): stop"
    )
    assert unnest_brackets("INR 4.8 (25 Nov 2026)") == "INR 4.8 (25 Nov 2026)"


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        pytest.param(
            Evidence("Observation/o-1", "Pregnancy status 'Pregnant' on 2026-11-23", date(2026, 11, 23)),
            "Pregnancy status 'Pregnant' on 23 Nov 2026",
            id="status",
        ),
        pytest.param(
            Evidence("Observation/o-2", "estimated due date 2027-06-20", date(2026, 11, 14)),
            "Estimated due date 20 Jun 2027",
            id="edd",
        ),
        pytest.param(
            Evidence(None, "Hemophilia A, reported by the patient", date(2026, 3, 1)),
            "Hemophilia A, reported by the patient, recorded 1 Mar 2026",
            id="undated-description",
        ),
        pytest.param(Evidence(None, "Warfarin 5 mg", None), "Warfarin 5 mg", id="no-date"),
    ],
)
def test_evidence_is_shown_as_facts_with_dates_in_words(evidence: Evidence, expected: str) -> None:
    assert evidence_text(evidence) == expected


def test_patient_view_cards_hide_facts_about_an_order(knowledge: Knowledge, wording: CardWording) -> None:
    finding = Finding(
        "infection-near-site",
        FindingKind.PRECAUTION,
        facts={
            "infection": "Cellulitis of right lower leg",
            "infection_site": "right leg",
            "order_site": "any site",
            "relation": "no order yet",
        },
        evidence=(Evidence("Condition/c-1", "Cellulitis of right lower leg (L03.115), since 2026-11-21"),),
    )
    context = CardContext(
        "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", knowledge.finding_system, {"infection-near-site": "x"}, "v"
    )
    [card] = build_cards([finding], {}, context, wording)
    assert "any site" not in card["detail"] and "no order yet" not in card["detail"]
    assert not ORDER_WORD.search(card["summary"] + card["detail"])
    assert "Cellulitis of right lower leg (L03.115), since 21 Nov 2026" in card["detail"]
    assert "Condition/c-1" not in card["detail"]
