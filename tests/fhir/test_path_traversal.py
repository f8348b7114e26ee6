"""Path traversal past the allowlists (issue 15 item 3): ``fhirServer``, ``next`` links, redirects and ``jku``
paths are compared as the server will resolve them, and dot segments in any spelling are refused."""

from __future__ import annotations

import re

import pytest
import responses
from support.cds_client import CdsClient
from support.clock import TODAY
from support.tokens import issuer_trust
from test_fhir_fetcher import (
    BASE,
    CONDITIONS,
    MISSING,
    OBSERVATIONS,
    SERVICE,
    body,
    bundle,
    condition,
    fetcher,
    hook_request,
    mock,
)

from cds_service import Settings, create_app
from cds_service.errors import BadRequest
from cds_service.fhir_fetcher import ServerAllowlist
from cds_service.hook_request import parse_hook_request
from cds_service.trust import url_under_prefix

__all__ = ["mock"]  # the fixture, shared with test_fhir_fetcher

PRIVATE = re.compile(r"https://ehr\.example\.org/(internal|private|fhir/private).*")


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/fhir/R4/../../internal/admin/users",
        "https://ehr.example.org/fhir/R4/%2e%2e/%2E%2E/internal",
        "https://ehr.example.org/fhir/R4/.%2e/private",
        "https://ehr.example.org/fhir/R4/..;/private",
        "https://ehr.example.org/fhir/R4/%252e%252e/private",
        "https://ehr.example.org/fhir/R4/\uff0e\uff0e/private",
        "https://ehr.example.org/fhir/R4/./Condition",
        "https://ehr.example.org/fhir/R4%2F..%2Fprivate",
        "https://ehr.example.org/fhir/R4/Condition#",
    ],
)
def test_the_fhir_allowlist_refuses_dot_segments_in_any_spelling(url: str) -> None:
    assert not ServerAllowlist((BASE,)).allows(url)


def test_the_fhir_allowlist_compares_decoded_unreserved_characters() -> None:
    assert ServerAllowlist((BASE,)).allows("https://ehr.example.org/fhir/%52%34/Condition?patient=1")
    assert not ServerAllowlist((BASE,)).allows("https://ehr.example.org/fhir/%52%35/Condition")


@pytest.mark.parametrize(
    "server",
    [
        f"{BASE}/../../internal/admin/users#",
        f"{BASE}/..",
        f"{BASE}/%2e%2e/internal",
        f"{BASE}#fragment",
        f"{BASE}?x=1",
        f"{BASE}/..;/internal",
    ],
)
def test_a_fhir_server_with_dot_segments_or_a_fragment_is_a_400(server: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_hook_request(body(server=server))
    assert refused.value.expression == "fhirServer"


def test_the_attack_from_the_report_gets_a_400_and_sends_no_request(mock: responses.RequestsMock) -> None:
    """fhirServer = <allowlisted>/../internal/admin/users# once sent the EHR's token to the admin endpoint."""
    everything = mock.get(re.compile(r".*"))
    app = create_app(
        Settings(fhir_server_allowlist=(BASE,), trusted_issuers=(issuer_trust(),)), today=lambda: TODAY
    )
    with app.test_client() as client:
        response = CdsClient(client).call(SERVICE.id, body(server=f"{BASE}/../../internal/admin/users#"))

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["fhirServer"]
    assert everything.call_count == 0


@pytest.mark.parametrize(
    "next_url",
    [
        f"{BASE}/../private/x",
        f"{BASE}/%2e%2e/private/x",
        f"{BASE}/..;/private/x",
        "/fhir/R4/../private/x",
    ],
)
def test_a_next_link_with_dot_segments_is_refused(mock: responses.RequestsMock, next_url: str) -> None:
    mock.get(CONDITIONS, json=bundle(condition("c1"), next_url=next_url))
    mock.get(OBSERVATIONS, json=bundle())
    private = mock.get(PRIVATE)

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert "conditions" in result.failures
    assert private.call_count == 0


def test_a_same_origin_redirect_out_of_the_allowed_base_is_refused(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, status=302, headers={"Location": "/fhir/R4/../../private/x"})
    mock.get(OBSERVATIONS, status=302, headers={"Location": "/private/y"})
    private = mock.get(PRIVATE)

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert "outside its allowed base" in result.failures["conditions"]
    assert "outside its allowed base" in result.failures["labObservations"]
    assert private.call_count == 0


@pytest.mark.parametrize(
    "jku",
    [
        "https://a.example/keys/..;/admin/jwks.json",
        "https://a.example/keys/%252e%252e/admin/jwks.json",
        "https://a.example/keys/\uff0e\uff0e/admin/jwks.json",
        "https://a.example/keys/.%2E/admin/jwks.json",
        "https://a.example/keys/./jwks.json",
        "https://a.example/keys/jwks.json#",
    ],
)
def test_jku_paths_with_dot_segments_in_any_spelling_are_not_under_the_prefix(jku: str) -> None:
    assert url_under_prefix(jku, "https://a.example/keys/") is False


def test_jku_paths_compare_decoded_unreserved_characters() -> None:
    assert url_under_prefix("https://a.example/%6Beys/jwks.json", "https://a.example/keys/")
