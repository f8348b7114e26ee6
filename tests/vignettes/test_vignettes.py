"""The clinical vignette suite, run through the HTTP API (see tests/support/vignettes.py for the file format).

Each vignette must produce exactly its expected finding codes on order-select and order-sign; a vignette with
a contraindication must get the matching critical card with its remove-order suggestion (zero tolerance);
every finding code fires somewhere and is shown not firing in a near miss.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask
from support.cds_client import CdsClient, card_codes
from support.tokens import issuer_trust
from support.vignettes import load_vignettes

from cds_service import Settings, create_app
from cds_service.catalog import ServiceDefinition, load_catalog
from cds_service.demo import build_hook_request
from fhir_mappings import Knowledge

RUN_DATE = date(2027, 3, 1)  # not the authoring date: every vignette must survive the date shift
VIGNETTES = load_vignettes(RUN_DATE)
BY_SLUG = {v.slug: v for v in VIGNETTES}
ORDER_HOOKS = ("order-select", "order-sign")

# Finding codes a prefetch-only vignette cannot show; each is proven by the tests named here.
NOT_SHOWN_BY_PREFETCH_VIGNETTES: dict[str, str] = {
    # Fires only when a FHIR read fails, which a prefetch-only vignette cannot produce (an unusable prefetch
    # without a way to fetch is a 412). Fired: test_fhir_server_integration.py (expired token, slow or down
    # server, page cap) and test_fhir_fetcher.py; not fired: the no-prefetch equivalence over every vignette.
    "patient-data-incomplete": "tests/fhir/test_fhir_server_integration.py, tests/fhir/test_fhir_fetcher.py",
}


@pytest.fixture(scope="module")
def vignette_app() -> Flask:
    return create_app(Settings(trusted_issuers=(issuer_trust(),)), today=lambda: RUN_DATE)


@pytest.fixture
def vignette_cds(vignette_app: Flask) -> Iterator[CdsClient]:
    with vignette_app.test_client() as client:
        yield CdsClient(client)


@pytest.fixture(scope="module")
def services() -> dict[str, ServiceDefinition]:
    return {service.hook: service for service in load_catalog().services}


def _finding_kinds(knowledge: Knowledge) -> dict[str, str]:
    return {code: finding.kind for code, finding in knowledge.findings.items()}


def test_the_suite_has_at_least_80_vignettes() -> None:
    assert len(VIGNETTES) >= 80, len(VIGNETTES)


def test_slugs_are_unique() -> None:
    assert len(BY_SLUG) == len(VIGNETTES)


@pytest.mark.parametrize("hook", ORDER_HOOKS)
@pytest.mark.parametrize("slug", sorted(BY_SLUG))
def test_vignette_yields_exactly_its_expected_findings(
    slug: str, hook: str, vignette_cds: CdsClient, services: dict[str, ServiceDefinition]
) -> None:
    vignette = BY_SLUG[slug]
    service = services[hook]
    response = vignette_cds.call(service.id, build_hook_request(vignette.patient, service))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert card_codes(response) == list(vignette.expected_for(hook)), vignette.patient.description


@pytest.mark.parametrize("slug", sorted(BY_SLUG))
def test_every_contraindication_gets_a_critical_card_that_removes_the_order(
    slug: str, vignette_cds: CdsClient, services: dict[str, ServiceDefinition], knowledge: Knowledge
) -> None:
    vignette = BY_SLUG[slug]
    kinds = _finding_kinds(knowledge)
    contraindications = {
        c
        for c in vignette.expected_for("order-sign")
        if kinds[c] == "contraindication" and c not in vignette.expected_as_warning
    }
    drafts = {f"ServiceRequest/{r['id']}" for r in vignette.patient.draft_orders}
    service = services["order-sign"]
    cards = vignette_cds.call(service.id, build_hook_request(vignette.patient, service)).get_json()["cards"]
    critical = {c["source"]["topic"]["code"]: c for c in cards if c["indicator"] == "critical"}
    assert set(critical) == contraindications
    warnings = {c["source"]["topic"]["code"] for c in cards if c["indicator"] == "warning"}
    assert set(vignette.expected_as_warning) <= warnings
    for card in critical.values():
        actions = [a for s in card["suggestions"] for a in s.get("actions", [])]
        assert any(a["type"] == "delete" and a["resourceId"] in drafts for a in actions), card


@pytest.mark.parametrize("slug", sorted(BY_SLUG))
def test_vignette_resources_are_valid_fhir(slug: str) -> None:
    for resource in BY_SLUG[slug].patient.resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert resource.get("id"), resource


@pytest.mark.parametrize("slug", sorted(BY_SLUG))
def test_near_misses_name_codes_the_vignette_does_not_expect(slug: str, knowledge: Knowledge) -> None:
    vignette = BY_SLUG[slug]
    kinds = _finding_kinds(knowledge)
    for code in (*vignette.near_miss_of, *vignette.patient.expected_findings):
        assert code in kinds, f"{slug}: unknown finding code {code}"
    assert not set(vignette.near_miss_of) & set(vignette.patient.expected_findings)


def test_every_finding_code_fires_and_has_a_near_miss(knowledge: Knowledge) -> None:
    fired = {code for v in VIGNETTES for hook in ORDER_HOOKS for code in v.expected_for(hook)}
    near_missed = {code for v in VIGNETTES for code in v.near_miss_of}
    for code in _finding_kinds(knowledge):
        if code in NOT_SHOWN_BY_PREFETCH_VIGNETTES:
            continue
        assert code in fired, f"no vignette shows {code} firing"
        assert code in near_missed, f"no vignette shows a near miss of {code}"


WITH_INDICATIONS = sorted(v.slug for v in VIGNETTES if v.expected_indications is not None)


@pytest.mark.parametrize("slug", WITH_INDICATIONS)
def test_vignette_matches_exactly_its_expected_indication_keys(
    slug: str, vignette_cds: CdsClient, services: dict[str, ServiceDefinition]
) -> None:
    vignette = BY_SLUG[slug]
    service = services["order-sign"]
    cards = vignette_cds.call(service.id, build_hook_request(vignette.patient, service)).get_json()["cards"]
    found = [c for c in cards if c["source"]["topic"]["code"] == "indication-found"]
    keys = sorted({m["key"] for c in found for m in c["extension"]["dn-cds.indications"]})
    assert keys == list(vignette.expected_indications or ()), vignette.patient.description


def test_every_indication_key_is_matched_by_some_vignette(knowledge: Knowledge) -> None:
    matched = {key for v in VIGNETTES for key in (v.expected_indications or ())}
    assert set(knowledge.indication_keys()) <= matched, sorted(set(knowledge.indication_keys()) - matched)
