"""Every card's ``source.url`` (architecture.md section 5: source {label, url, topic}) and the rule-base page
it opens (GET /knowledge)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from support.cds_client import CdsClient
from support.clock import TODAY
from support.tokens import issuer_trust

from cds_service import Settings, create_app
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from fhir_mappings import Knowledge

PATH = "/knowledge"


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "patient-view"])
def test_every_card_source_links_its_finding_on_the_rule_base_page(cds: CdsClient, hook: str) -> None:
    service = next(s for s in load_catalog().services if s.hook == hook)
    seen = 0
    for patient in load_demo_patients(TODAY):
        for card in cds.call(service.id, build_hook_request(patient, service)).get_json()["cards"]:
            code = card["source"]["topic"]["code"]
            url = urlsplit(card["source"]["url"])
            assert (url.scheme, url.netloc, url.path, url.fragment) == (
                "http",
                "localhost",
                PATH,
                f"finding-{code}",
            )
            assert list(card["source"]) == ["label", "url", "topic"]
            seen += 1
    assert seen > 20


def test_the_page_has_a_section_for_every_finding_and_needs_no_token(
    app: Flask, knowledge: Knowledge
) -> None:
    with app.test_client() as client:
        response = client.get(PATH)  # no Authorization header: no patient data on the page
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.startswith("<!DOCTYPE html>")
    for code in knowledge.findings:
        assert f'id="finding-{code}"' in page, code
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_source_url_is_under_the_public_base_url() -> None:
    settings = Settings(public_base_url="https://cds.example.org/dn/", trusted_issuers=(issuer_trust(),))
    app = create_app(settings, today=lambda: TODAY)
    service = next(s for s in load_catalog().services if s.hook == "order-select")
    patient = next(p for p in load_demo_patients(TODAY) if p.slug == "bleeding-disorder")
    with app.test_client() as client:
        response = CdsClient(client, base_url="https://cds.example.org/dn").call(
            service.id, build_hook_request(patient, service)
        )
    urls = {card["source"]["url"] for card in response.get_json()["cards"]}
    assert "https://cds.example.org/dn/knowledge#finding-bleeding-disorder" in urls
    assert all(url.startswith("https://cds.example.org/dn/knowledge#finding-") for url in urls)
