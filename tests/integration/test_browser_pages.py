"""The HTML pages in a real browser: Debian's Chromium driven by Playwright for Python.

The service (the Flask app, clock fixed to the suite's TODAY) runs on a free 127.0.0.1 port; Chromium opens
the patient handout, the rule-base page and the preview page and checks what a reader sees: no raw markdown,
no broken in-page link, no console error, the handout prints on at most two pages, and the preview shows every
demo patient's cards on every hook.

Chromium is the system one (``scripts/install-chromium.sh``; Playwright's browser download is not used).
Without it the tests are skipped, except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from support.clock import TODAY
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.card_html import PatientCards
from cds_service.preview import demo_patient_cards
from cds_service.routes import ServiceState
from cds_service.settings import Settings

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("DN_CDS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ["/handouts/dry-needling", "/knowledge", "/preview"]
CONTACT = "Riverside Physical Therapy, 555-0100 (Mon-Fri 8:00-18:00)"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask]]:
    """The app on a free loopback port for the module (bound before the thread starts: no polling)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser-data"), handout_contact=CONTACT)
    app = create_app(settings, today=lambda: TODAY)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: run scripts/install-chromium.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    problems: list[str] = []
    opened.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    opened.problems = problems
    try:
        yield opened
    finally:
        context.close()


def _open(page: Any, url: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    assert response.headers["content-type"].startswith("text/html")


def _visible_text(page: Any) -> str:
    return str(page.inner_text("body"))


def _broken_in_page_links(page: Any) -> list[str]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('a[href^="#"]')]
                .map(a => a.getAttribute('href'))
                .filter(href => !document.getElementById(decodeURIComponent(href.slice(1))))"""
        )
    )


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_raw_markdown_no_broken_link_and_no_console_error(
    service: tuple[str, Flask], page: Any, path: str
) -> None:
    base, _ = service
    _open(page, base + path)
    text = _visible_text(page)
    assert text.strip()
    raw = [token for token in ("**", "`", "\\*", "\\_", "](") if token in text]
    assert raw == [], f"raw markdown on {path}: {raw}"
    assert not re.search(r"^\s*#{1,6} ", text, flags=re.M), f"a markdown heading shows on {path}"
    assert _broken_in_page_links(page) == []
    assert page.problems == []


def test_checks_fail_on_a_page_with_raw_markdown_and_a_broken_link(browser: Any) -> None:
    """The checks above can fail: a page showing markdown and linking to a missing anchor is caught."""
    context = browser.new_context()
    try:
        bad = context.new_page()
        bad.set_content(
            '<p>**Why.** see <a href="#nowhere">there</a></p><script>console.error("boom")</script>'
        )
        assert "**" in _visible_text(bad)
        assert _broken_in_page_links(bad) == ["#nowhere"]
    finally:
        context.close()


def test_every_table_of_contents_link_reaches_its_part(service: tuple[str, Flask], page: Any) -> None:
    base, _ = service
    _open(page, base + "/knowledge")
    links = page.locator('nav[aria-label="Contents"] a')
    assert links.count() >= 8
    for href in links.evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        target = page.locator(href)
        assert target.count() == 1, href
    page.click('nav[aria-label="Contents"] a[href="#policy"]')
    assert page.evaluate("() => location.hash") == "#policy"
    assert page.locator("#policy").is_visible()


def test_long_code_tables_start_collapsed(service: tuple[str, Flask], page: Any) -> None:
    base, _ = service
    _open(page, base + "/knowledge")
    details = page.locator("details")
    assert details.count() > 10
    assert page.evaluate("() => [...document.querySelectorAll('details')].every(d => !d.open)")
    first_table = details.first.locator("table")
    assert not first_table.is_visible()
    details.first.locator("summary").click()
    assert first_table.is_visible()


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_handout_prints_on_at_most_two_pages_with_the_clinic_contact(
    service: tuple[str, Flask], page: Any
) -> None:
    base, _ = service
    _open(page, base + "/handouts/dry-needling")
    assert CONTACT in _visible_text(page)
    page.emulate_media(media="print")
    for paper in ("A4", "Letter"):
        pdf = page.pdf(format=paper, print_background=True)
        assert pdf.startswith(b"%PDF")
        assert 1 <= _pdf_pages(pdf) <= 2, (paper, _pdf_pages(pdf))


def test_pdf_page_count_reads_the_page_objects() -> None:
    assert _pdf_pages(b"<< /Type /Pages /Count 2 >> << /Type /Page >> << /Type/Page >>") == 2


def test_preview_shows_every_demo_patients_cards_on_every_hook(service: tuple[str, Flask], page: Any) -> None:
    base, app = service
    state: ServiceState = app.extensions["dn_cds"]
    expected: list[PatientCards] = demo_patient_cards(state.advisor, state.catalog, TODAY)
    _open(page, base + "/preview")
    assert len(expected) >= 10
    for patient in expected:
        section = page.locator(f"#patient-{patient.slug}")
        assert section.count() == 1, patient.slug
        assert patient.title in section.locator("h2").inner_text()
        for hook in patient.hooks:
            shown = section.locator(f'section[data-hook="{hook.hook}"] article.card')
            assert shown.count() == len(hook.cards), (patient.slug, hook.hook)
            for index, card in enumerate(hook.cards):
                rendered = shown.nth(index)
                assert rendered.is_visible()
                summary = rendered.locator(".summary").inner_text()
                assert card["summary"] in summary
                indicator = rendered.locator(".indicator").inner_text().strip().casefold()
                assert indicator == card["indicator"]
                if card.get("overrideReasons"):
                    reasons = rendered.locator(".override-reasons li").all_inner_texts()
                    assert reasons == [r["display"] for r in card["overrideReasons"]]
    all_cards = page.locator("article.card")
    assert all_cards.count() == sum(len(h.cards) for p in expected for h in p.hooks)
