"""Bounds on the patient data evaluated (issue 15 item 6): at most ``DN_CDS_MAX_RESOURCES_PER_KEY`` resources
per prefetch key (sent or read from fhirServer), past it a clear patient-data-incomplete card; and at most
``DN_CDS_FHIR_MAX_CALL_BYTES`` decoded bytes read from fhirServer in all for one hook call."""

from __future__ import annotations

import json
from typing import Any

import responses
from support.cds_client import CdsClient
from support.clock import TODAY
from support.tokens import issuer_trust
from test_fhir_fetcher import (
    BASE,
    CONDITIONS,
    MISSING,
    OBSERVATIONS,
    PATIENT,
    SERVICE,
    body,
    bundle,
    condition,
    hook_request,
    mock,
)

from cds_service import Settings, create_app
from cds_service.demo import build_hook_request
from cds_service.fhir_fetcher import FhirFetcher

__all__ = ["mock"]  # the fixture, shared with test_fhir_fetcher


def incomplete_card(response: Any) -> dict[str, Any]:
    [card] = [
        c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "patient-data-incomplete"
    ]
    return card


def codes(response: Any) -> set[str]:
    return {c["source"]["topic"]["code"] for c in response.get_json()["cards"]}


def app_with(**settings: Any) -> CdsClient:
    app = create_app(Settings(trusted_issuers=(issuer_trust(),), **settings), today=lambda: TODAY)
    return CdsClient(app.test_client())


def padded_prefetch(extra: int) -> dict[str, Any]:
    """The bleeding-disorder patient's call, its conditions Bundle padded with ``extra`` other conditions."""
    hook = build_hook_request(PATIENT, SERVICE)
    entries = hook["prefetch"]["conditions"]["entry"]
    template = json.loads(json.dumps(condition("pad")))
    template["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M79.1"}]}
    for index in range(extra):
        entries.append({"resource": {**template, "id": f"pad-{index}"}})
    return hook


def test_a_prefetch_key_over_the_cap_is_not_evaluated_and_the_card_says_so() -> None:
    hook = padded_prefetch(60)
    client = app_with(max_resources_per_key=50)

    response = client.call(SERVICE.id, hook)

    assert response.status_code == 200
    card = incomplete_card(response)
    assert "more than 50 resources" in card["detail"]
    assert "bleeding-disorder" not in codes(response)  # the condition is in the unevaluated key


def test_a_prefetch_key_at_the_cap_is_evaluated() -> None:
    hook = padded_prefetch(0)
    count = len(hook["prefetch"]["conditions"]["entry"])
    client = app_with(max_resources_per_key=count)

    response = client.call(SERVICE.id, hook)

    assert "bleeding-disorder" in codes(response)
    assert "patient-data-incomplete" not in codes(response)


def test_fhir_server_paging_stops_past_the_cap(mock: responses.RequestsMock) -> None:
    page = [condition(f"c{index}") for index in range(30)]
    mock.get(CONDITIONS, json=bundle(*page, next_url=f"{BASE}/Condition?page=next"))
    mock.get(OBSERVATIONS, json=bundle())
    fetcher = FhirFetcher(Settings(fhir_server_allowlist=(BASE,), max_resources_per_key=40))

    result = fetcher.fetch(hook_request(), SERVICE, MISSING)

    assert "more than 40 resources" in result.failures["conditions"]
    assert len([c for c in mock.calls if "/Condition" in (c.request.url or "")]) == 2  # no third page


def test_the_fhir_answers_of_one_call_are_bounded_in_all(mock: responses.RequestsMock) -> None:
    """Each answer is well under the per-response cap; together they pass the per-call budget."""
    big = bundle(*[condition(f"c{index}") for index in range(20)])
    size = len(json.dumps(big))
    mock.get(CONDITIONS, json=big)
    mock.get(OBSERVATIONS, json=big)
    fetcher = FhirFetcher(
        Settings(
            fhir_server_allowlist=(BASE,), fhir_max_response_bytes=10 * size, fhir_max_call_bytes=2 * size
        )
    )

    result = fetcher.fetch(hook_request(), SERVICE, MISSING)

    over = [key for key, reason in result.failures.items() if "in all" in reason]
    assert over  # three Observation/Condition searches of `size` bytes each: not all fit in 2 x size
    read = sum(len(json.dumps(bundle(*resources))) for resources in result.resources.values())
    assert read <= 2 * size + 4096


def test_the_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"DN_CDS_MAX_RESOURCES_PER_KEY": "100", "DN_CDS_FHIR_MAX_CALL_BYTES": "4096"}
    )

    assert (settings.max_resources_per_key, settings.fhir_max_call_bytes) == (100, 4096)


def test_a_call_with_fhir_server_over_the_cap_gives_the_incomplete_card(mock: responses.RequestsMock) -> None:
    page = [condition(f"c{index}") for index in range(60)]
    mock.get(CONDITIONS, json=bundle(*page))
    mock.get(OBSERVATIONS, json=bundle())
    client = app_with(fhir_server_allowlist=(BASE,), max_resources_per_key=50)

    response = client.call(SERVICE.id, body())

    assert "more than 50 resources" in incomplete_card(response)["detail"]
