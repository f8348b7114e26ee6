"""Site risks of the ordered site (architecture.md section 4): thorax, upper back, shoulder girdle or lower
neck -> pneumothorax precaution; head or neck -> fainting precaution; site lines on the disclosure."""

from __future__ import annotations

import pytest
from support.builders import Json, body_site, draft_orders, dry_needling_order, patient_record, sct
from support.clock import TODAY

from cards import CardContext, build_cards, load_card_wording
from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders

PNEUMO = "pneumothorax-risk-site"
FAINT = "fainting-risk-site"


def _site_codes(knowledge: Knowledge, *sites: Json) -> list[str]:
    order = dry_needling_order(id="dn-1", body_sites=sites)
    orders = find_dry_needling_orders(draft_orders(order), knowledge)
    findings = evaluate_orders(orders, patient_record(), knowledge, TODAY)
    return sorted(f.code for f in findings if f.code in {PNEUMO, FAINT})


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        pytest.param(body_site(sct("78904004", "Chest wall structure")), [PNEUMO], id="chest-wall"),
        pytest.param(body_site(sct("51185008", "Thoracic structure")), [PNEUMO], id="thorax"),
        pytest.param(
            body_site(sct("77568009", "Back structure"), text="Interscapular region"),
            [PNEUMO],
            id="interscapular",
        ),
        pytest.param(
            body_site(sct("16982005", "Shoulder region structure"), sct("24028007", "Right")),
            [PNEUMO],
            id="right-shoulder",
        ),
        pytest.param(
            body_site(text="R upper trapezius"), [FAINT, PNEUMO], id="upper-trapezius"
        ),  # trapezius spans neck, shoulder, upper back
        pytest.param(body_site(text="Left rhomboids"), [PNEUMO], id="rhomboids"),
        pytest.param(body_site(text="Pectoralis minor"), [PNEUMO], id="pectoralis-minor"),
        pytest.param(body_site(sct("45048000", "Neck structure")), [FAINT], id="neck"),
        pytest.param(
            body_site(sct("45048000", "Neck structure"), text="Right anterior scalene"),
            [FAINT, PNEUMO],
            id="anterior-scalene-lower-neck",
        ),
        pytest.param(body_site(text="Suboccipitals"), [FAINT], id="suboccipitals"),
        pytest.param(
            body_site(sct("69536005", "Head structure"), text="Temporalis"), [FAINT], id="head-temporalis"
        ),
        pytest.param(body_site(text="Masseter, left"), [FAINT], id="masseter"),
        pytest.param(body_site(sct("37822005", "Lumbar region structure")), [], id="lumbar"),
        pytest.param(body_site(text="Lower back (quadratus lumborum)"), [], id="quadratus-lumborum"),
        pytest.param(body_site(sct("72696002", "Knee region structure")), [], id="knee"),
        pytest.param(body_site(text="Left calf"), [], id="calf"),
        pytest.param(body_site(sct("14975008", "Forearm structure")), [], id="forearm"),
        pytest.param(body_site(text="Gluteus medius, right"), [], id="gluteus-medius"),
    ],
)
def test_site_risks_by_region_and_words(site: Json, expected: list[str], knowledge: Knowledge) -> None:
    assert _site_codes(knowledge, site) == expected


def test_an_order_without_a_site_has_no_site_risk(knowledge: Knowledge) -> None:
    assert _site_codes(knowledge) == []


def test_several_sites_fire_each_risk_once(knowledge: Knowledge) -> None:
    sites = (body_site(text="Neck"), body_site(text="Right shoulder"), body_site(text="Left shoulder"))
    assert _site_codes(knowledge, *sites) == [FAINT, PNEUMO]


def test_site_risk_findings_name_the_site_and_the_disclosure_carries_site_lines(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", body_sites=[body_site(text="Left upper trapezius")])
    orders = find_dry_needling_orders(draft_orders(order), knowledge)
    findings = evaluate_orders(orders, patient_record(), knowledge, TODAY)
    pneumo = next(f for f in findings if f.code == PNEUMO)
    assert pneumo.kind == "precaution"
    assert pneumo.order_references == ("ServiceRequest/dn-1",)
    assert "shoulder" in pneumo.facts["order_site"]
    disclosure = next(f for f in findings if f.code == "risk-disclosure")
    assert set(disclosure.site_risks) == {PNEUMO, FAINT}

    wording = load_card_wording(knowledge.findings)
    context = CardContext(
        "hook-1", knowledge.finding_system, {c: d.display for c, d in knowledge.findings.items()}, "v"
    )
    cards = build_cards(findings, {"ServiceRequest/dn-1": order}, context, wording)
    card = next(c for c in cards if c["source"]["topic"]["code"] == "risk-disclosure")
    assert "**For this site:**" in card["detail"]
    assert "Near the lung" in card["detail"] and "treat lying down" in card["detail"]
    instruction = card["suggestions"][0]["actions"][0]["resource"]["patientInstruction"]
    assert "close to the lung" in instruction and "do not drive" in instruction
    pneumo_card = next(c for c in cards if c["source"]["topic"]["code"] == PNEUMO)
    assert pneumo_card["indicator"] == "warning"
    for symptom in (
        "shortness of breath on exertion",
        "faster breathing",
        "chest pain",
        "dry cough",
        "bluish skin",
    ):
        assert symptom in pneumo_card["detail"]


def test_a_lumbar_order_gets_no_site_lines(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", body_sites=[body_site(sct("37822005", "Lumbar region structure"))])
    orders = find_dry_needling_orders(draft_orders(order), knowledge)
    findings = evaluate_orders(orders, patient_record(), knowledge, TODAY)
    disclosure = next(f for f in findings if f.code == "risk-disclosure")
    assert disclosure.site_risks == ()
