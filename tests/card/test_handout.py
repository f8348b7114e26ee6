"""The printable patient handout (GET /handouts/dry-needling) and its link on the risk-disclosure card."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.cds_client import CdsClient
from support.clock import TODAY
from support.tokens import BASE_URL, issuer_trust

from cards.handout import load_handout, render_handout_html
from cards.wording import DATA_DIR, WordingError
from cds_service import Settings, create_app
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients

PATH = "/handouts/dry-needling"
DISCLOSURE = json.loads((DATA_DIR / "risk-disclosure.json").read_text(encoding="utf-8"))
FRAME = json.loads((DATA_DIR / "handout.json").read_text(encoding="utf-8"))


@pytest.fixture
def page(app: Flask) -> Iterator[str]:
    with app.test_client() as client:
        response = client.get(PATH)
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert response.mimetype_params.get("charset") == "utf-8"
        yield response.get_data(as_text=True)


def _section(page: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', page, re.S)
    assert found, section_id
    return found.group(1)


def test_handout_is_a_self_contained_printable_page(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert f'<html lang="{FRAME["language"]}">' in page
    assert '<meta charset="utf-8">' in page
    assert "@media print" in page
    for external in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"):
        assert external not in page.lower(), external


def test_handout_lists_every_risk_with_its_rate_from_the_data_file(page: str) -> None:
    expect = _section(page, "what-to-expect")
    for risk in DISCLOSURE["risks"]:
        assert html.escape(risk["text"]) in expect
        if risk.get("rate"):
            assert (
                f'{html.escape(risk["text"])}: <span class="rate">{html.escape(risk["rate"])}</span>'
                in expect
            )


def test_handout_gives_every_aftercare_item_once(page: str) -> None:
    for item in DISCLOSURE["aftercare"]:
        assert page.count(html.escape(item["text"])) == 1, item["text"]


def test_delayed_pneumothorax_signs_are_under_when_to_get_help(page: str) -> None:
    help_section = _section(page, "seek-help")
    signs = next(i for i in DISCLOSURE["aftercare"] if i["id"] == "pneumothorax-signs")["text"]
    assert html.escape(signs) in help_section
    for symptom in ("shortness of breath", "chest pain", "dry cough", "bluish skin", "sweating"):
        assert symptom in help_section
    assert "several hours later" in help_section


def test_handout_escapes_data_file_text(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    disclosure = json.loads((data / "risk-disclosure.json").read_text(encoding="utf-8"))
    disclosure["risks"][0]["text"] = '<script>alert("x")</script> & more'
    disclosure["aftercare"][0]["text"] = "<b>bold</b>"
    (data / "risk-disclosure.json").write_text(json.dumps(disclosure), encoding="utf-8")
    frame = json.loads((data / "handout.json").read_text(encoding="utf-8"))
    frame["title"] = "Title <i>x</i>"
    frame["language"] = 'en" onload="x'
    (data / "handout.json").write_text(json.dumps(frame), encoding="utf-8")
    page = render_handout_html(load_handout(data))
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    assert "Title &lt;i&gt;x&lt;/i&gt;" in page
    assert 'lang="en&quot; onload=&quot;x"' in page


def test_page_changes_with_the_data_file(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    disclosure = json.loads((data / "risk-disclosure.json").read_text(encoding="utf-8"))
    disclosure["aftercare"].append({"text": "Drink some water after your session.", "source": "test"})
    (data / "risk-disclosure.json").write_text(json.dumps(disclosure), encoding="utf-8")
    page = render_handout_html(load_handout(data))
    default = next(s["id"] for s in FRAME["sections"] if s.get("default"))
    assert "Drink some water after your session." in _section(page, default)


def test_unknown_aftercare_id_in_the_frame_stops_loading(tmp_path: Path) -> None:
    data = _copy_data(tmp_path)
    frame = json.loads((data / "handout.json").read_text(encoding="utf-8"))
    frame["sections"][-1]["aftercare"] = ["no-such-item"]
    (data / "handout.json").write_text(json.dumps(frame), encoding="utf-8")
    with pytest.raises(WordingError, match="no-such-item"):
        load_handout(data)


def test_handout_prints_the_clinic_contact_or_the_fallback() -> None:
    handout = load_handout()
    with_contact = render_handout_html(handout, "Riverside PT <front desk>, 555-0100")
    urgent = with_contact.split('class="urgent"', 1)[1].split("</section>", 1)[0]
    assert "Your clinic: Riverside PT &lt;front desk&gt;, 555-0100" in urgent
    without = render_handout_html(handout)
    assert escape(FRAME["contact_fallback"]) in without
    assert "Your clinic:" not in without


def test_handout_states_the_unit_of_every_rate_and_the_aftercare_a_patient_needs(page: str) -> None:
    disclosure = json.loads((DATA_DIR / "risk-disclosure.json").read_text(encoding="utf-8"))
    for risk in disclosure["risks"]:
        rate = risk.get("rate", "")
        if any(ch.isdigit() for ch in rate):
            assert rate.split("(")[0].strip().endswith(("treatments", "patients")), rate
    text = page.casefold()
    for advice in ("soreness", "bruis", "infection", "do not drive", "emergency", "collapsed lung"):
        assert advice in text, advice


def test_served_handout_carries_the_contact_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, handout_contact="Riverside PT, 555-0100")
    with create_app(settings, today=lambda: TODAY).test_client() as client:
        assert "Your clinic: Riverside PT, 555-0100" in client.get(PATH).get_data(as_text=True)


def test_handout_response_forbids_external_content(app: Flask) -> None:
    with app.test_client() as client:
        response = client.get(PATH)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.head(PATH).status_code == 200


def _disclosure_card(client: FlaskClient, base_url: str = BASE_URL) -> dict[str, Any]:
    service = next(s for s in load_catalog().services if s.hook == "order-sign")
    patient = next(p for p in load_demo_patients(TODAY) if p.slug == "eligible")
    response = CdsClient(client, base_url=base_url).call(
        service.id, build_hook_request(patient, service)
    )  # conformance-checked
    cards = response.get_json()["cards"]
    return next(c for c in cards if c["source"]["topic"]["code"] == "risk-disclosure")


def test_disclosure_card_links_the_handout_under_the_public_base_url() -> None:
    settings = Settings(public_base_url="https://cds.example.org/dn/", trusted_issuers=(issuer_trust(),))
    app = create_app(settings, today=lambda: TODAY)
    with app.test_client() as client:
        card = _disclosure_card(client, "https://cds.example.org/dn")
    assert card["links"] == [
        {
            "label": FRAME["link_label"],
            "url": "https://cds.example.org/dn/handouts/dry-needling",
            "type": "absolute",
        }
    ]


def test_disclosure_card_link_uses_the_request_base_url_when_no_public_url_is_set(app: Flask) -> None:
    with app.test_client() as client:
        card = _disclosure_card(client)
        [link] = card["links"]
        url = urlsplit(link["url"])
        assert url.scheme == "http" and url.netloc == "localhost" and url.path == PATH
        followed = client.get(url.path)
    assert followed.status_code == 200 and followed.mimetype == "text/html"


def test_only_the_disclosure_card_has_links(cds: CdsClient) -> None:
    service = next(s for s in load_catalog().services if s.hook == "order-select")
    for patient in load_demo_patients(TODAY):
        cards = cds.call(service.id, build_hook_request(patient, service)).get_json()["cards"]
        for card in cards:
            has_links = "links" in card
            assert has_links == (card["source"]["topic"]["code"] == "risk-disclosure"), card["summary"]


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target
