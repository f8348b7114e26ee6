"""cards.builder without Flask: hand-made findings -> CDS Hooks cards, per architecture.md section 5."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest
from support.builders import (
    ICD10CM,
    SNOMED,
    body_site,
    concept,
    dry_needling_order,
    icd,
    sct,
)

from cards import CardContext, CardWording, WordingError, build_cards, load_card_wording
from cards.builder import (
    EXTENSION_EVIDENCE,
    EXTENSION_INDICATIONS,
    choose_summary,
    date_in_words,
    markdown_text,
    patient_instruction_text,
    unnest_brackets,
)
from cards.wording import DATA_DIR as WORDING_DIR
from fhir_mappings import Evidence, Finding, FindingKind, IndicationMatch, Knowledge

HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
OTHER_HOOK_INSTANCE = "5f2b9c8e-7a41-4a53-9f0e-8c1d2b3a4e5f"
LUMBAR_ORDER = "ServiceRequest/sr-lumbar-2201"
KNEE_ORDER = "ServiceRequest/sr-knee-2202"
PNEUMOTHORAX_SYMPTOMS = [
    "shortness of breath",
    "chest pain",
    "dry cough",
    "bluish",
    "sweating",
    "several hours",
]
SEED_FIGURES = ["1-3%", "15-20%", "60-70%", "under 3%", "1 in 10,000", "1 in 200,000"]

INDICATOR_OF_KIND = {
    FindingKind.CONTRAINDICATION: "critical",
    FindingKind.PRECAUTION: "warning",
    FindingKind.MISSING_DATA: "warning",
    FindingKind.INDICATION: "info",
    FindingKind.DISCLOSURE: "info",
}

# Long but realistic values for every fact a summary template may use.
LONG_FACTS = {
    "ga": "13w6d (from an estimated due date recorded 2026-10-01)",
    "reason": "undated, on record for 97 days",
    "condition": "Hereditary factor VIII deficiency with severe bleeding tendency (hemophilia A)",
    "order_site": "both sides, hip / buttock / groin / leg; right arm / shoulder",
    "infection": "Cellulitis and acute lymphangitis of right lower limb, recurrent",  # 60+ characters
    "infection_site": "right hip / buttock / groin / leg; left arm / chest wall; neck",
    "indications": "Low back pain, Sciatica, Myofascial / trigger-point pain, Osteoarthritis, Knee pain",
    "dating": "estimated due date 2027-05-29, recorded 2026-10-01 by obstetrics",
    "relation": "site of the infection or of the order unknown",
    "missing": "conditions and pregnancy observations",  # every key in cds_service/data/patient-data.json
    "unchecked": "pregnancy, bleeding disorder, local infection, problem-list indications",
    "drugs": "warfarin, clopidogrel, aspirin, enoxaparin",
    "matched_by_name": "aspirin (no code: matched by name in the medication text)",
    "result": "150000 {cells}/uL",
    "value": "<10 x10^9/L",
    "date": "2026-11-20",
    "test": "Platelet count",
    "condition_site": "left arm / shoulder",
    "side": "the side of the condition or of the order is not recorded",
    "age": "15 years",
    "days": "7",
    "last_inr": "2026-10-29",
    "platelets": "no platelet count within the lab age limit",
    "low_risk_drug": "taken alone, usually continued for low-bleeding-risk procedures",
    "lung_site": "both sides, hip / buttock / groin / leg; right arm / shoulder",
}


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wording(knowledge: Knowledge) -> CardWording:
    return load_card_wording(knowledge.findings)


def _context(knowledge: Knowledge, hook_instance: str = HOOK_INSTANCE) -> CardContext:
    return CardContext(
        hook_instance=hook_instance,
        finding_system=knowledge.finding_system,
        finding_displays={code: d.display for code, d in knowledge.findings.items()},
        knowledge_version=knowledge.version,
    )


@pytest.fixture
def context(knowledge: Knowledge) -> CardContext:
    return _context(knowledge)


def _orders() -> dict[str, dict[str, Any]]:
    lumbar = dry_needling_order(
        "20561",
        id="sr-lumbar-2201",
        text="Dry needling, lumbar multifidus, quadratus lumborum and gluteus medius",
        body_sites=[body_site(sct("37822005", "Lumbar region structure"), text="Lower back")],
        reason_codes=[concept(icd("M54.50", "Low back pain, unspecified"))],
    )
    knee = dry_needling_order(
        "20560",
        id="sr-knee-2202",
        text="Dry needling, right vastus lateralis",
        body_sites=[
            body_site(sct("72696002", "Knee region structure"), sct("24028007", "Right"), text="Right knee")
        ],
    )
    return {LUMBAR_ORDER: lumbar, KNEE_ORDER: knee}


@pytest.fixture
def orders() -> dict[str, dict[str, Any]]:
    return _orders()


def _finding(code: str, kind: FindingKind, *orders: str, **kwargs: Any) -> Finding:
    return Finding(code=code, kind=kind, order_references=orders, **kwargs)


LOW_BACK_PAIN = IndicationMatch(
    key="low-back-pain",
    system=ICD10CM,
    code="M54.50",
    display="Low back pain, unspecified",
    origin="order reason",
    reference=None,
)
SCIATICA = IndicationMatch(
    key="sciatica",
    system=SNOMED,
    code="23056005",
    display=None,
    origin="problem list",
    reference="Condition/cond-sciatica-77",
)


def _pregnancy(*orders: str) -> Finding:
    return _finding(
        "pregnancy-first-trimester",
        FindingKind.CONTRAINDICATION,
        *orders,
        facts={"ga": "9w2d", "dating": "estimated due date"},
        evidence=(
            Evidence(
                "Observation/obs-edd-301",
                "Estimated due date 2027-06-20 (recorded 2026-10-12)",
                date(2026, 10, 12),
            ),
            Evidence("Condition/cond-preg-302", "Pregnant state, incidental", date(2026, 10, 2)),
        ),
    )


def _bleeding(*orders: str) -> Finding:
    return _finding(
        "bleeding-disorder",
        FindingKind.CONTRAINDICATION,
        *orders,
        facts={"condition": "Hereditary factor VIII deficiency"},
        evidence=(Evidence("Condition/cond-d66-401", "Hereditary factor VIII deficiency (D66)"),),
    )


def _infection_near(order: str, reference: str | None, label: str) -> Finding:
    return _finding(
        "infection-near-site",
        FindingKind.PRECAUTION,
        order,
        facts={
            "infection": label,
            "infection_site": "right leg",
            "order_site": "right hip / buttock / groin",
        },
        evidence=(Evidence(reference, f"{label} (active since 2026-11-20)"),),
    )


def _indication(order: str) -> Finding:
    return _finding(
        "indication-found",
        FindingKind.INDICATION,
        order,
        facts={"indications": "Low back pain, Sciatica"},
        indications=(LOW_BACK_PAIN, SCIATICA),
        unrecognised=("Condition/cond-text-only-88: 'sore lower back'",),
    )


def _disclosure(order: str) -> Finding:
    return _finding("risk-disclosure", FindingKind.DISCLOSURE, order)


def _order_sign_findings() -> list[Finding]:
    """What evaluate_orders could return for an order-sign call with two dry-needling orders."""
    return [
        _indication(LUMBAR_ORDER),
        _disclosure(LUMBAR_ORDER),
        _infection_near(KNEE_ORDER, "Condition/cond-cellulitis-501", "Cellulitis of right lower limb"),
        _pregnancy(LUMBAR_ORDER, KNEE_ORDER),
        _finding("pregnancy-status-unknown", FindingKind.MISSING_DATA, LUMBAR_ORDER, KNEE_ORDER),
        _indication(KNEE_ORDER),
        _infection_near(KNEE_ORDER, None, "Abscess of right thigh (free text only)"),
        _bleeding(LUMBAR_ORDER, KNEE_ORDER),
        _finding("no-indication-found", FindingKind.INDICATION, KNEE_ORDER),
        _disclosure(KNEE_ORDER),
        _finding("pneumothorax-risk-site", FindingKind.PRECAUTION, LUMBAR_ORDER),
    ]


def _patient_view_findings() -> list[Finding]:
    return [
        _finding(
            "indication-found",
            FindingKind.INDICATION,
            facts={"indications": "Sciatica"},
            indications=(SCIATICA,),
        ),
        _bleeding(),
        _finding(
            "infection-near-site",
            FindingKind.PRECAUTION,
            facts={"infection": "Cellulitis of left foot", "infection_site": "left leg"},
            evidence=(Evidence("Condition/cond-cellulitis-601", "Cellulitis of left foot"),),
        ),
    ]


def _walk(value: Any, path: str = "card") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _by_code(cards: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [card for card in cards if card["source"]["topic"]["code"] == code]


# --- order, identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "findings",
    [
        pytest.param(_order_sign_findings(), id="order-sign"),
        pytest.param(list(reversed(_order_sign_findings())), id="order-sign-reversed"),
        pytest.param(_patient_view_findings(), id="patient-view"),
    ],
)
def test_cards_are_sorted_critical_warning_info(
    findings: list[Finding], orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    cards = build_cards(findings, orders, context, wording)
    assert len(cards) == len(findings)
    rank = {"critical": 0, "warning": 1, "info": 2}
    indicators = [card["indicator"] for card in cards]
    assert indicators == sorted(indicators, key=rank.__getitem__)
    # Stable within an indicator: cards keep the rule order.
    for indicator in rank:
        expected = [f.code for f in findings if INDICATOR_OF_KIND[f.kind] == indicator]
        assert [c["source"]["topic"]["code"] for c in cards if c["indicator"] == indicator] == expected


@pytest.mark.parametrize(("kind", "indicator"), INDICATOR_OF_KIND.items(), ids=lambda value: str(value))
def test_indicator_follows_the_finding_kind(
    kind: FindingKind, indicator: str, knowledge: Knowledge, context: CardContext, wording: CardWording
) -> None:
    code = next(c for c, d in knowledge.findings.items() if d.kind == kind.value)
    [card] = build_cards([_finding(code, kind, LUMBAR_ORDER)], _orders(), context, wording)
    assert card["indicator"] == indicator
    assert card["source"]["topic"] == {
        "system": "urn:dn-cds:CodeSystem/finding",
        "code": code,
        "display": knowledge.findings[code].display,
    }
    assert card["source"]["label"] == wording.source_label


def _uuids(cards: list[dict[str, Any]]) -> list[str]:
    return [card["uuid"] for card in cards] + [
        suggestion["uuid"] for card in cards for suggestion in card.get("suggestions", [])
    ]


def test_uuids_are_deterministic_per_hook_instance(knowledge: Knowledge, wording: CardWording) -> None:
    first = build_cards(_order_sign_findings(), _orders(), _context(knowledge), wording)
    again = build_cards(_order_sign_findings(), _orders(), _context(knowledge), wording)
    other = build_cards(_order_sign_findings(), _orders(), _context(knowledge, OTHER_HOOK_INSTANCE), wording)
    assert _uuids(first) == _uuids(again)
    assert set(_uuids(first)).isdisjoint(_uuids(other))


@pytest.mark.parametrize(
    "findings",
    [
        pytest.param(_order_sign_findings(), id="order-sign"),
        pytest.param(_patient_view_findings(), id="patient-view"),
    ],
)
def test_uuids_are_unique_within_a_response(
    findings: list[Finding], orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    uuids = _uuids(build_cards(findings, orders, context, wording))
    assert len(uuids) == len(set(uuids))
    assert all(len(u) == 36 and u.count("-") == 4 for u in uuids)


# --- summaries ------------------------------------------------------------------------------------------


def _summary_templates() -> list[tuple[str, bool, int]]:
    texts = json.loads((WORDING_DIR / "card-text.json").read_text(encoding="utf-8"))["findings"]
    found = []
    for code, entry in sorted(texts.items()):
        found += [(code, True, i) for i in range(len(entry["summaries"]))]
        view = entry.get("patient_view", {}).get("summaries", [])
        found += [(code, False, i) for i in range(len(view))]
    return found


SUMMARY_TEMPLATES = _summary_templates()


@pytest.mark.parametrize(
    ("code", "with_order", "index"),
    [
        pytest.param(code, with_order, i, id=f"{code}-{'order' if with_order else 'patient'}-{i}")
        for code, with_order, i in SUMMARY_TEMPLATES
    ],
)
def test_every_summary_template_stays_under_140_characters(
    code: str, with_order: bool, index: int, wording: CardWording
) -> None:
    text = wording.findings[code].text(with_order)
    template = text.summaries[index]
    facts = {name: LONG_FACTS.get(name, "x" * 80) for name in template.requires}
    only_this = dataclasses.replace(text, summaries=(template,))
    summary = choose_summary(only_this, facts)
    assert 0 < len(summary) < 140, summary
    # Realistic long facts fit whole: the conclusion ("... contraindicated") is never cut off.
    words = {name: date_in_words(value) for name, value in facts.items()}
    assert summary == unnest_brackets(template.text.format_map(words))


def test_an_overlong_summary_is_cut_below_140_characters(knowledge: Knowledge, wording: CardWording) -> None:
    titles = ", ".join(knowledge.value_set(f"indication-{key}").title for key in knowledge.indication_keys())
    summary = choose_summary(wording.findings["indication-found"], {"indications": titles})
    assert len(summary) < 140
    assert summary.startswith("Dry-needling indication on file: ")
    assert summary.endswith("\u2026")


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        pytest.param({"ga": "9w2d"}, "Contraindicated: first-trimester pregnancy, GA 9w2d", id="ga"),
        pytest.param(
            {"reason": "possible, not confirmed"},
            "Contraindicated: pregnancy, first trimester not excluded (possible, not confirmed)",
            id="reason",
        ),
        pytest.param({}, "Contraindicated: pregnancy, first trimester not excluded", id="no-facts"),
        pytest.param(
            {"dating": "last menstrual period"},
            "Contraindicated: pregnancy, first trimester not excluded",
            id="unused-fact",
        ),
    ],
)
def test_choose_summary_uses_the_first_template_whose_facts_are_present(
    facts: dict[str, str], expected: str, wording: CardWording
) -> None:
    assert choose_summary(wording.findings["pregnancy-first-trimester"], facts) == expected


# --- contraindication cards -----------------------------------------------------------------------------


def test_contraindication_card_offers_removal_of_every_order(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([_pregnancy(LUMBAR_ORDER, KNEE_ORDER)], orders, context, wording)
    assert card["indicator"] == "critical"
    assert card["summary"] == "Contraindicated: first-trimester pregnancy, GA 9w2d"
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    assert suggestion["isRecommended"] is True
    assert suggestion["label"] and suggestion["uuid"]
    assert [(a["type"], a["resourceId"]) for a in suggestion["actions"]] == [
        ("delete", LUMBAR_ORDER),
        ("delete", KNEE_ORDER),
    ]
    assert all(a["description"] and "resource" not in a for a in suggestion["actions"])


def test_contraindication_card_has_coded_override_reasons(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([_bleeding(KNEE_ORDER)], orders, context, wording)
    reasons = card["overrideReasons"]
    assert len(reasons) >= 2
    for reason in reasons:
        assert set(reason) == {"system", "code", "display"}
        assert reason["system"] == "urn:dn-cds:CodeSystem/override-reason"
        assert reason["code"] and reason["display"]
    assert len({r["code"] for r in reasons}) == len(reasons)
    assert "site-away-from-risk" not in {r["code"] for r in reasons}  # a bleeding disorder is not local
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the draft dry-needling order",
        "resourceId": KNEE_ORDER,
    }


def test_patient_view_contraindication_has_no_suggestions(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([_bleeding()], {}, context, wording)
    assert card["indicator"] == "critical"
    assert "suggestions" not in card
    assert "selectionBehavior" not in card
    assert card["summary"] == "Contraindicated: bleeding disorder on file, Hereditary factor VIII deficiency"


@pytest.mark.parametrize(
    "finding",
    [
        pytest.param(_infection_near(KNEE_ORDER, "Condition/c-1", "Cellulitis"), id="precaution"),
        pytest.param(_indication(KNEE_ORDER), id="indication"),
    ],
)
def test_non_critical_cards_have_no_suggestions_or_override_reasons(
    finding: Finding, orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([finding], orders, context, wording)
    assert not {"suggestions", "selectionBehavior", "overrideReasons"} & card.keys()


# --- risk disclosure ------------------------------------------------------------------------------------


def test_disclosure_suggestion_updates_the_whole_order_with_patient_instructions(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    original = json.loads(json.dumps(orders[LUMBAR_ORDER]))
    [card] = build_cards([_disclosure(LUMBAR_ORDER)], orders, context, wording)
    assert card["indicator"] == "info"
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    assert action["description"]
    resource = action["resource"]
    assert {k: v for k, v in resource.items() if k != "patientInstruction"} == original
    assert resource["patientInstruction"] == patient_instruction_text(wording)
    assert orders[LUMBAR_ORDER] == original, "the EHR's draft order must not be modified in place"
    validated = ServiceRequest.model_validate(resource)
    assert validated.patientInstruction == resource["patientInstruction"]
    assert validated.id == "sr-lumbar-2201"


def test_disclosure_keeps_an_existing_patient_instruction(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    existing = "Wear loose clothing that exposes the lower back. Arrive 10 minutes early."
    orders[KNEE_ORDER]["patientInstruction"] = existing
    [card] = build_cards([_disclosure(KNEE_ORDER)], orders, context, wording)
    instruction = card["suggestions"][0]["actions"][0]["resource"]["patientInstruction"]
    assert instruction.startswith(existing)
    assert instruction.endswith(patient_instruction_text(wording))
    ServiceRequest.model_validate(card["suggestions"][0]["actions"][0]["resource"])


def test_disclosure_does_not_repeat_instructions_already_on_the_order(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    already = f"Bring your inhaler.\n\n{patient_instruction_text(wording)}"
    orders[KNEE_ORDER]["patientInstruction"] = already
    [card] = build_cards([_disclosure(KNEE_ORDER)], orders, context, wording)
    assert card["suggestions"][0]["actions"][0]["resource"]["patientInstruction"] == already


def test_disclosure_for_two_orders_offers_one_update_each(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    finding = _finding("risk-disclosure", FindingKind.DISCLOSURE, LUMBAR_ORDER, KNEE_ORDER)
    [card] = build_cards([finding], orders, context, wording)
    assert card["selectionBehavior"] == "any"
    ids = [s["actions"][0]["resource"]["id"] for s in card["suggestions"]]
    assert ids == ["sr-lumbar-2201", "sr-knee-2202"]


def test_disclosure_detail_has_every_seed_figure_and_the_pneumothorax_signs(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    lung = dataclasses.replace(_disclosure(LUMBAR_ORDER), site_risks=("unplaced-site",))
    [card] = build_cards([lung], orders, context, wording)
    detail = card["detail"]
    missing = [text for text in SEED_FIGURES if text not in detail]
    assert missing == []
    assert "no driving" in detail and "breathlessness or chest pain" in detail
    assert "**Aftercare:**" in detail
    assert len(detail) < 700, len(detail)  # one screen; the handout has the rest
    assert "published" not in detail.casefold()  # comparisons with surveys are on the rule-base page


def test_disclosure_for_a_site_away_from_the_lung_leaves_out_the_lung_collapse_signs(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    """Clinical review 2026-12: the lung-collapse signs are not told for a site away from the lung."""
    [card] = build_cards([_disclosure(LUMBAR_ORDER)], orders, context, wording)
    assert "breathlessness or chest pain" not in card["detail"]
    assert "no driving if drowsy" in card["detail"]
    instruction = card["suggestions"][0]["actions"][0]["resource"]["patientInstruction"]
    assert "collapsed lung (pneumothorax) often start" not in instruction
    assert "do not drive" in instruction
    lung = dataclasses.replace(_disclosure(LUMBAR_ORDER), site_risks=("pneumothorax-risk-site",))
    [card] = build_cards([lung], orders, context, wording)
    assert "breathlessness or chest pain" in card["detail"]


def test_patient_instruction_text_has_the_figures_and_the_warning_signs(wording: CardWording) -> None:
    text = patient_instruction_text(wording, ("pneumothorax-risk-site",))
    missing = [item for item in SEED_FIGURES + PNEUMOTHORAX_SYMPTOMS if item not in text]
    assert missing == []
    assert text.startswith("Dry needling: risks and aftercare")


# --- card content ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "orders"),
    [
        pytest.param(_order_sign_findings(), _orders(), id="order-sign"),
        pytest.param(_patient_view_findings(), {}, id="patient-view"),
        pytest.param(
            [
                _finding("pregnancy-first-trimester", FindingKind.CONTRAINDICATION, LUMBAR_ORDER),
                _finding(
                    "indication-found",
                    FindingKind.INDICATION,
                    LUMBAR_ORDER,
                    indications=(dataclasses.replace(LOW_BACK_PAIN, display=None, reference=None),),
                ),
                _finding(
                    "bleeding-disorder",
                    FindingKind.CONTRAINDICATION,
                    evidence=(Evidence(None, "Hemophilia A, reported by the patient"),),
                ),
            ],
            _orders(),
            id="sparse-findings",
        ),
    ],
)
def test_no_card_carries_null_or_empty_values(
    findings: list[Finding], orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    cards = build_cards(findings, orders, context, wording)
    empty = [
        path
        for card in cards
        for path, value in _walk(card)
        if value is None or (isinstance(value, str | list | dict) and len(value) == 0)
    ]
    assert empty == []
    assert json.loads(json.dumps(cards)) == cards  # plain JSON types only


def test_every_card_has_the_contract_fields(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    for card in build_cards(_order_sign_findings(), orders, context, wording):
        assert {"uuid", "summary", "indicator", "detail", "source"} <= card.keys()
        assert "**Source:**" in card["detail"]
        if card["source"]["topic"]["code"] != "risk-disclosure":  # its action is the suggestion
            assert "**What to do:**" in card["detail"]


def test_evidence_references_are_in_the_card_extension(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    finding = dataclasses.replace(
        _pregnancy(LUMBAR_ORDER),
        evidence=(
            *_pregnancy().evidence,
            Evidence(None, "Patient reports a positive home pregnancy test"),
            Evidence("Observation/obs-edd-301", "Estimated due date, amended"),
        ),
    )
    [card] = build_cards([finding], orders, context, wording)
    assert card["extension"][EXTENSION_EVIDENCE] == ["Observation/obs-edd-301", "Condition/cond-preg-302"]
    assert "Patient reports a positive home pregnancy test" in card["detail"]
    assert "Estimated due date, amended" in card["detail"]
    assert "Observation/" not in card["detail"]  # ids are for machines: the extension has them


def test_card_without_evidence_references_has_no_evidence_extension(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([_disclosure(LUMBAR_ORDER)], orders, context, wording)
    assert EXTENSION_EVIDENCE not in card["extension"]


def test_indication_card_lists_the_matched_indication_keys(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([_indication(LUMBAR_ORDER)], orders, context, wording)
    matched = card["extension"][EXTENSION_INDICATIONS]
    assert [m["key"] for m in matched] == ["low-back-pain", "sciatica"]
    assert matched[0] == {
        "key": "low-back-pain",
        "system": ICD10CM,
        "code": "M54.50",
        "display": "Low back pain, unspecified",
        "origin": "order reason",
    }
    assert matched[1]["reference"] == "Condition/cond-sciatica-77"
    assert "display" not in matched[1]
    assert card["summary"] == "Dry-needling indication on file: Low back pain, Sciatica"
    assert "sore lower back" in card["detail"]  # unrecognised text is reported, not dropped


# --- wording loading ------------------------------------------------------------------------------------


def test_wording_for_an_unknown_finding_code_is_an_error(knowledge: Knowledge) -> None:
    with pytest.raises(WordingError, match="nerve-injury-risk"):
        load_card_wording([*knowledge.findings, "nerve-injury-risk"])


def test_card_text_missing_a_finding_is_an_error(knowledge: Knowledge, tmp_path: Path) -> None:
    data_dir = tmp_path / "wording"
    shutil.copytree(WORDING_DIR, data_dir)
    texts = json.loads((data_dir / "card-text.json").read_text(encoding="utf-8"))
    del texts["findings"]["local-infection"]
    (data_dir / "card-text.json").write_text(json.dumps(texts), encoding="utf-8")
    with pytest.raises(WordingError, match=r"card-text\.json.*local-infection"):
        load_card_wording(knowledge.findings, data_dir)


def test_shipped_wording_covers_every_finding_code(knowledge: Knowledge, wording: CardWording) -> None:
    assert set(knowledge.findings) <= set(wording.findings)


# --- wording a clinician reads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "facts", "expected"),
    [
        pytest.param(
            "inr-critical",
            FindingKind.CONTRAINDICATION,
            {"result": "4.8 {INR}", "value": "4.8", "date": "2026-11-25"},
            "Contraindicated: INR 4.8 on 25 Nov 2026",
            id="inr-critical",
        ),
        pytest.param(
            "inr-elevated",
            FindingKind.PRECAUTION,
            {"result": "3.4 {INR}", "value": "3.4", "date": "2026-11-23"},
            "Precaution: elevated INR 3.4 on 23 Nov 2026: needle with bleeding precautions",
            id="inr-elevated",
        ),
        pytest.param(
            "severe-thrombocytopenia",
            FindingKind.CONTRAINDICATION,
            {"result": "18000 /uL", "value": "18 x10^9/L", "date": "2026-11-25"},
            "Contraindicated: platelets 18 x10^9/L on 25 Nov 2026, severe thrombocytopenia",
            id="severe-thrombocytopenia",
        ),
        pytest.param(
            "low-platelet-count",
            FindingKind.PRECAUTION,
            {"result": "42 10*3/uL", "value": "42 x10^9/L", "date": "2026-11-20"},
            "Precaution: low platelets 42 x10^9/L on 20 Nov 2026: needle with bleeding precautions",
            id="low-platelet-count",
        ),
    ],
)
def test_lab_summaries_give_the_value_in_the_rule_unit_not_the_ucum_code_as_sent(
    code: str,
    kind: FindingKind,
    facts: dict[str, str],
    expected: str,
    orders: dict[str, dict[str, Any]],
    context: CardContext,
    wording: CardWording,
) -> None:
    """UCUM codes ({INR}, 10*3/uL) and per-microlitre counts are not how a clinician reads a result."""
    [card] = build_cards([_finding(code, kind, LUMBAR_ORDER, facts=facts)], orders, context, wording)
    assert card["summary"] == expected
    sent = facts["result"].replace("*", "\\*")
    assert f"- result as sent: {sent}" in card["detail"]  # what the lab sent stays in the detail


@pytest.mark.parametrize(
    ("order_site", "expected"),
    [
        (
            "both sides, neck",
            "Precaution: needling the head or neck, both sides, neck: fainting risk, treat lying down",
        ),
        ("right neck", "Precaution: needling the head or neck, right neck: fainting risk, treat lying down"),
    ],
)
def test_fainting_summary_names_the_site_in_a_sentence(
    order_site: str,
    expected: str,
    orders: dict[str, dict[str, Any]],
    context: CardContext,
    wording: CardWording,
) -> None:
    finding = _finding(
        "fainting-risk-site", FindingKind.PRECAUTION, LUMBAR_ORDER, facts={"order_site": order_site}
    )
    [card] = build_cards([finding], orders, context, wording)
    assert card["summary"] == expected


def test_patient_facts_are_named_in_words_not_by_their_keys(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    [card] = build_cards([_pregnancy(LUMBAR_ORDER)], orders, context, wording)
    assert "- gestational age: 9w2d" in card["detail"]
    assert "- dated by: estimated due date" in card["detail"]
    assert "- ga:" not in card["detail"]


def test_a_summary_too_long_for_its_conclusion_falls_back_to_a_shorter_template(wording: CardWording) -> None:
    """Cutting 'Could not read ...: <list> not checked' would cut off 'not checked', the point of the card."""
    facts = {  # every prefetch key unreadable: the longest 'unchecked' list the service can produce
        "missing": "conditions, pregnancy observations, lab results, medications, patient and procedures",
        "unchecked": "pregnancy, bleeding disorder, local infection, problem-list indications, platelets, "
        "INR, antithrombotic drugs, reproductive potential",
    }
    summary = choose_summary(wording.findings["patient-data-incomplete"], facts)
    assert len(summary) < 140
    assert "\u2026" not in summary
    assert summary.startswith(f"Could not read {facts['missing']}")
    every_key = (
        "conditions, pregnancy observations, lab results, medication orders, medication list, patient "
    )
    summary = choose_summary(
        wording.findings["patient-data-incomplete"],
        facts | {"missing": every_key + "demographics and procedures"},
    )
    assert summary == f"Could not read {every_key}demographics and procedures"


def test_a_trailing_list_is_still_cut_rather_than_dropped(wording: CardWording) -> None:
    facts = {"indications": ", ".join(["Low back pain, Sciatica, Myofascial / trigger-point pain"] * 4)}
    summary = choose_summary(wording.findings["indication-found"], facts)
    assert len(summary) < 140
    assert summary.startswith("Dry-needling indication on file: Low back pain, Sciatica")
    assert summary.endswith("\u2026")


HOSTILE_TEXT = (
    "Hemophilia <img src=x onerror=alert(1)> [details](https://evil.example/x) **now**\n# www.evil.example"
)


def test_text_from_the_ehr_is_literal_in_the_detail_never_markdown_or_html(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    """detail is GFM: a Condition's text must not become a link, an image, a tag or a heading in our card."""
    finding = _finding(
        "bleeding-disorder",
        FindingKind.CONTRAINDICATION,
        LUMBAR_ORDER,
        facts={"condition": HOSTILE_TEXT},
        evidence=(Evidence("Condition/cond-d66-401", f"{HOSTILE_TEXT} (D66)"),),
        unrecognised=(f"Condition/c-9: '{HOSTILE_TEXT}'",),
    )
    [card] = build_cards([finding], orders, context, wording)
    detail = card["detail"]
    for markup in (r"<img", r"\[details", r"\]\(", r"\*\*now", r"https://", r"www\.evil", r"\n# "):
        assert not re.search(r"(?<!\\)" + markup, detail), markup  # only escaped occurrences are left
    assert "\\<img src=x onerror=alert(1)\\> \\[details\\](https\\://evil.example/x)" in detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Low back pain, unspecified (M54.50)", "Low back pain, unspecified (M54.50)"),
        ("INR 3.4, 2026-11-23", "INR 3.4, 2026-11-23"),
        ("15 10*3/uL", "15 10\\*3/uL"),
        ("a_b `c` ~d~ |e|", "a\\_b \\`c\\` \\~d\\~ \\|e\\|"),
        ("see http://x.example or WWW.x.example", "see http\\://x.example or WWW\\.x.example"),
        ("two\nlines", "two lines"),
    ],
)
def test_markdown_text_escapes_only_what_makes_markup(text: str, expected: str) -> None:
    assert markdown_text(text) == expected


def test_a_finding_given_another_kind_reads_as_that_kind(
    orders: dict[str, dict[str, Any]], context: CardContext, wording: CardWording
) -> None:
    """Aspirin alone is information; lymphedema with an unknown side is a precaution (t12 rule set)."""
    aspirin = _finding(
        "antithrombotic-therapy",
        FindingKind.NOTICE,
        LUMBAR_ORDER,
        facts={"drugs": "aspirin", "low_risk_drug": "taken alone, usually continued"},
    )
    lymphedema = _finding(
        "lymphedema-limb",
        FindingKind.PRECAUTION,
        LUMBAR_ORDER,
        facts={"condition": "Lymphedema", "order_site": "left arm", "side": "the side is not recorded"},
    )
    sided = dataclasses.replace(
        lymphedema, kind=FindingKind.CONTRAINDICATION, facts={"order_site": "left arm"}
    )
    aspirin_card, lymphedema_card, sided_card = (
        build_cards([f], orders, context, wording)[0] for f in (aspirin, lymphedema, sided)
    )
    assert aspirin_card["indicator"] == "info" and aspirin_card["summary"].startswith("Information:")
    assert "overrideReasons" not in aspirin_card and "why information only" not in aspirin_card["detail"]
    assert lymphedema_card["indicator"] == "warning"
    assert lymphedema_card["summary"].startswith("Precaution:")
    assert "side not confirmed" in lymphedema_card["summary"]
    assert sided_card["indicator"] == "critical"
    assert sided_card["summary"] == "Contraindicated: lymphedema in the limb to be needled, left arm"
    reasons = [r["code"] for r in sided_card["overrideReasons"]]
    assert reasons == ["limb-not-affected", "data-incorrect"]
