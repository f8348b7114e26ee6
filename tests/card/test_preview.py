"""``GET /preview`` and ``dn-cds demo --html/--json/--detail``: the cards clinicians will see, for review."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from support.clock import TODAY

from cds_service.card_html import card_html, markdown_html
from cds_service.cli import main
from cds_service.demo import load_demo_patients
from cds_service.preview import demo_patient_cards
from cds_service.routes import ServiceState

HOOKS = {"order-select", "order-sign", "patient-view"}


def test_preview_page_shows_every_demo_patient_on_every_hook(app: Flask) -> None:
    with app.test_client() as client:
        response = client.get("/preview")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    state: ServiceState = app.extensions["dn_cds"]
    patients = demo_patient_cards(state.advisor, state.catalog, TODAY)
    assert [p.slug for p in patients] == [p.slug for p in load_demo_patients(TODAY)]
    for patient in patients:
        section = page.split(f'<section id="patient-{patient.slug}"', 1)[1].split('<section id="patient-', 1)[
            0
        ]
        assert {h.hook for h in patient.hooks} == HOOKS
        for hook in patient.hooks:
            part = section.split(f'data-hook="{hook.hook}"', 1)[1].split("</section>", 1)[0]
            assert part.count('<article class="card') == len(hook.cards), (patient.slug, hook.hook)
    assert "<script" not in page


def test_preview_needs_no_token(app: Flask) -> None:
    """Only synthetic demo patients: no authentication, unlike /cds-services."""
    with app.test_client() as client:
        assert client.get("/preview").status_code == 200
        assert client.get("/cds-services").status_code == 401


def test_preview_cards_link_to_the_pages_under_the_request_url(app: Flask) -> None:
    with app.test_client() as client:
        page = client.get("/preview", base_url="https://cds.example.org").get_data(as_text=True)
    assert 'href="https://cds.example.org/handouts/dry-needling"' in page
    assert 'href="https://cds.example.org/knowledge#finding-pregnancy-first-trimester"' in page


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        pytest.param("**Why:** because", "<p><strong>Why:</strong> because</p>", id="bold"),
        pytest.param("Lead:\n- one\n- two", "<p>Lead:</p>\n<ul><li>one</li><li>two</li></ul>", id="list"),
        pytest.param("A \\*starred\\* name \\<b\\>", "<p>A *starred* name &lt;b&gt;</p>", id="escapes"),
        pytest.param("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", id="html"),
        pytest.param("first\n\nsecond", "<p>first</p>\n<p>second</p>", id="paragraphs"),
    ],
)
def test_card_markdown_renders_to_safe_html(markdown: str, expected: str) -> None:
    assert markdown_html(markdown) == expected


def test_card_html_shows_indicator_in_words_and_every_part() -> None:
    card = {
        "summary": "Contraindicated: <b>x</b>",
        "indicator": "critical",
        "detail": "**What to do:** stop",
        "source": {"label": "dn-cds", "url": "https://k.test/knowledge#finding-x"},
        "suggestions": [
            {"label": "Remove", "isRecommended": True, "actions": [{"description": "Remove it"}]}
        ],
        "links": [{"label": "Handout", "url": "https://k.test/h", "type": "absolute"}],
        "overrideReasons": [{"system": "s", "code": "c", "display": "Cleared by physician"}],
    }
    html = card_html(card)
    assert '<span class="indicator">Critical</span> Contraindicated: &lt;b&gt;x&lt;/b&gt;' in html
    for part in (
        "<strong>What to do:</strong>",
        "Remove",
        "(recommended)",
        "Handout",
        "Cleared by physician",
    ):
        assert part in html


def test_demo_html_json_and_detail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cards.html"
    assert main(["demo", "--json", "--html", str(target)]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["hook"] == "order-select"
    assert {p["verdict"] for p in document["patients"]} == {"as expected"}
    assert all(isinstance(p["cards"], list) for p in document["patients"])
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert len(re.findall(r'<section class="hook" data-hook="', page)) == 3 * len(document["patients"])
    assert str(target) in captured.err
    assert main(["demo", "--hook", "patient-view", "--detail"]) == 0
    text = capsys.readouterr().out
    assert "**What to do:** If dry needling is considered" in text
    assert "override reason: Patient record is wrong or out of date" in text


def test_demo_html_reports_an_unwritable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--html", str(tmp_path / "missing" / "cards.html")]) == 2
    assert "cannot write" in capsys.readouterr().err
