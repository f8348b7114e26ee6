"""CORS for browser-based CDS clients: listed origins only, preflight without a token, never credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.clock import TODAY
from support.tokens import bearer, issuer_trust

from cds_service import Settings, create_app

SANDBOX = "https://sandbox.cds-hooks.org"
SELECT = "/cds-services/dry-needling-order-select"


def client_for(*origins: str) -> Iterator[FlaskClient]:
    settings = Settings(trusted_issuers=(issuer_trust(),), cors_origins=origins)
    app: Flask = create_app(settings, today=lambda: TODAY)
    # Not a with-block client: a module-scoped client keeping its last request context pushed would pop it
    # after other modules' contexts in a shuffled run ("Popped wrong app context").
    yield app.test_client()


@pytest.fixture(scope="module")
def listed() -> Iterator[FlaskClient]:
    yield from client_for(SANDBOX, "http://localhost:3000")


@pytest.fixture(scope="module")
def anyone() -> Iterator[FlaskClient]:
    yield from client_for("*")


def test_preflight_from_a_listed_origin_needs_no_token(listed: FlaskClient) -> None:
    response = listed.options(
        SELECT,
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")} == {
        "Authorization",
        "Content-Type",
    }
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    ("origin", "method"),
    [
        ("https://intruder.example", "POST"),
        ("https://sandbox.cds-hooks.org.intruder.example", "POST"),
        ("http://sandbox.cds-hooks.org", "POST"),  # other scheme: another origin
        ("null", "POST"),
        (SANDBOX, "DELETE"),
    ],
)
def test_preflight_from_elsewhere_gets_no_cors_grant(listed: FlaskClient, origin: str, method: str) -> None:
    response = listed.options(SELECT, headers={"Origin": origin, "Access-Control-Request-Method": method})

    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Headers" not in response.headers


def test_actual_responses_carry_the_origin_even_when_refused(listed: FlaskClient) -> None:
    ok = listed.get("/cds-services", headers={"Origin": SANDBOX, **bearer("/cds-services")})
    refused = listed.get("/cds-services", headers={"Origin": SANDBOX})
    other = listed.get(
        "/cds-services", headers={"Origin": "https://intruder.example", **bearer("/cds-services")}
    )

    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == SANDBOX
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    for response in (ok, refused, other):
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"


def test_wildcard_never_comes_with_credentials(anyone: FlaskClient) -> None:
    granted = anyone.options(
        SELECT, headers={"Origin": "https://any.example", "Access-Control-Request-Method": "POST"}
    )
    actual = anyone.get("/cds-services", headers={"Origin": "https://any.example", **bearer("/cds-services")})

    assert granted.headers["Access-Control-Allow-Origin"] == "*"
    assert actual.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in granted.headers
    assert "Access-Control-Allow-Credentials" not in actual.headers


def test_no_origins_configured_means_no_cors_headers(cds_app_client: FlaskClient) -> None:
    response = cds_app_client.get("/cds-services", headers={"Origin": SANDBOX, **bearer("/cds-services")})

    assert response.status_code == 200
    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]


@pytest.fixture
def cds_app_client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client
