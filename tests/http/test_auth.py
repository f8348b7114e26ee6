"""JWT authentication of the CDS client with real keys (CDS Hooks "Trusting CDS Clients", design section 7).

Every refusal is a bare 401 (OperationOutcome "unauthorized", ``WWW-Authenticate: Bearer``); the reason is
logged as a fixed word. Keys: the test issuer's EC P-384 and RSA-2048 pairs (tests/support/tokens.py) and the
spec's own example key and token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from support.cds_client import CdsClient, issue_cards
from support.clock import TODAY
from support.tokens import (
    BASE_URL,
    EC_KEY,
    EC_KID,
    ISSUER,
    RSA_KEY,
    RSA_KID,
    bearer,
    issuer_trust,
    jwk_set,
    public_jwk,
    token,
)

from cds_service import Settings, create_app
from cds_service.auth import AuthError, InMemoryReplayGuard, TokenVerifier, bearer_token
from cds_service.jwks import JwksCache
from cds_service.trust import IssuerTrust, url_under_prefix

DISCOVERY = "/cds-services"
SELECT = "/cds-services/dry-needling-order-select"
FEEDBACK = "/cds-services/dry-needling-order-select/feedback"

# The CDS Hooks 2.0.1 / 3.0 ballot security example (index.md, "Trusting CDS Clients"): ES384, kid
# example-kid, exp 1422568860 (2015-01-29), aud https://cds.example.org/cds-services/some-service.
SPEC_TOKEN = "".join(  # a public test vector, not a secret
    [
        "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGlyLWVoci5leGFtcGxl",
        "LmNvbS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIsImF1ZCI6Imh0dHBzOi8vY2RzLmV4YW1w",
        "bGUub3JnL2Nkcy1zZXJ2aWNlcy9zb21lLXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUy",
        "MmIwMjEtZTFiNy00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEzMDUtNTIxMTFhZDMw",
        "MmEyIn0.d1WfLjGRKlcWB94l9do4cM8REXeYJLL6SGUBO8VHZhfM8mwKYP70EMxJ67War4TQblEpaQrp11wx5p7oPFm2ETYgCicS84vX",
        "WEIYTdjooZdooCSDf2L8-i4awdoUwiEb",
    ]
)
SPEC_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": "example-kid",
            "x": "46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk",
            "y": "XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI",
            "alg": "ES384",
        }
    ]
}
SPEC_ISSUER = "https://fhir-ehr.example.com/"
SPEC_JKU = "https://fhir-ehr.example.com/jwk_uri"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login", "diagnostics": "unauthorized"}],
    }


def discovery_with(cds: CdsClient, authorization: str | None) -> Any:
    headers = {"Authorization": authorization} if authorization is not None else {}
    client = CdsClient(cds.client, signed=False)
    return client.raw("GET", DISCOVERY, headers=headers)


# --- accepted ---------------------------------------------------------------------------------------------


def test_es384_token_is_accepted_on_discovery(cds: CdsClient) -> None:
    response = discovery_with(cds, f"Bearer {token(BASE_URL + DISCOVERY)}")

    assert response.status_code == 200


def test_rs384_token_is_accepted_on_a_hook_call(cds: CdsClient) -> None:
    client = CdsClient(cds.client, signed=False)

    response = client.raw("POST", SELECT, json={"hook": "order-select"}, headers=bearer(SELECT, alg="RS384"))

    assert response.status_code == 400  # authenticated: the body is checked (and found incomplete)


def test_feedback_needs_and_accepts_its_own_audience(cds: CdsClient, app: Flask) -> None:
    issue_cards(app, "dry-needling-order-select", "x")  # feedback names a card the service issued
    client = CdsClient(cds.client, signed=False)
    body = {"feedback": [{"card": "x", "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:00:00Z"}]}

    assert client.raw("POST", FEEDBACK, json=body, headers=bearer(FEEDBACK)).status_code == 200
    assert_unauthorized(client.raw("POST", FEEDBACK, json=body, headers=bearer(SELECT)))


@pytest.mark.parametrize(
    "aud",
    [
        BASE_URL + DISCOVERY,
        BASE_URL + DISCOVERY + "/",
        [BASE_URL + DISCOVERY],
        ["https://other.example/cds-services", BASE_URL + DISCOVERY],
    ],
)
def test_audience_forms_accepted(cds: CdsClient, aud: Any) -> None:
    assert discovery_with(cds, f"Bearer {token(aud)}").status_code == 200


def test_lower_case_bearer_scheme_is_accepted(cds: CdsClient) -> None:
    assert discovery_with(cds, f"bearer {token(BASE_URL + DISCOVERY)}").status_code == 200


# --- refused ----------------------------------------------------------------------------------------------


def hs256_with_public_key(secret: bytes) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the issuer's *public* key."""
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ISSUER,
        "aud": BASE_URL + DISCOVERY,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    signing_input = unsigned_parts({"alg": "HS256", "typ": "JWT", "kid": EC_KID}, claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def alg_none(signature: str) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ISSUER,
        "aud": BASE_URL + DISCOVERY,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    return unsigned_parts({"alg": "none", "typ": "JWT", "kid": EC_KID}, claims) + "." + signature


def tampered_signature() -> str:
    header, payload, signature = token(BASE_URL + DISCOVERY).split(".")
    flipped = ("A" if signature[10] != "A" else "B") + signature[11:]
    return f"{header}.{payload}.{signature[:10]}{flipped}"


def tampered_payload() -> str:
    header, _, signature = token(BASE_URL + DISCOVERY).split(".")
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": ISSUER, "aud": BASE_URL + DISCOVERY, "iat": now, "exp": now + 3000, "jti": "forged"}
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def other_key_same_kid() -> str:
    return token(BASE_URL + DISCOVERY, key=ec.generate_private_key(ec.SECP384R1()))


PUBLIC_PEM = EC_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
REFUSED: dict[str, Any] = {
    "no header": lambda: None,
    "empty header": lambda: "",
    "Basic scheme": lambda: "Basic dXNlcjpwYXNz",
    "Bearer without token": lambda: "Bearer ",
    "not a JWT": lambda: "Bearer not-a-jwt",
    "wrong audience (string)": lambda: f"Bearer {token(BASE_URL + SELECT)}",
    "wrong audience (array)": lambda: (
        f"Bearer {token([BASE_URL + SELECT, 'https://x.example/cds-services'])}"
    ),
    "audience on another host": lambda: f"Bearer {token('https://cds.example.org/cds-services')}",
    "audience missing": lambda: f"Bearer {token(None)}",
    "audience not a string": lambda: f"Bearer {token([42])}",
    "unknown issuer": lambda: f"Bearer {token(BASE_URL + DISCOVERY, iss='https://intruder.example/')}",
    "issuer missing": lambda: f"Bearer {token(BASE_URL + DISCOVERY, iss=None)}",
    "jku off the allowlist, kid not configured": lambda: (
        "Bearer "
        + token(BASE_URL + DISCOVERY, kid="elsewhere", headers={"jku": "https://intruder.example/jwks.json"})
    ),
    "tampered signature": lambda: f"Bearer {tampered_signature()}",
    "tampered payload": lambda: f"Bearer {tampered_payload()}",
    "signed by another key, same kid": lambda: f"Bearer {other_key_same_kid()}",
    "alg none, empty signature": lambda: f"Bearer {alg_none('')}",
    "alg none, some signature": lambda: f"Bearer {alg_none('c2ln')}",
    "HS256 keyed with the public PEM": lambda: f"Bearer {hs256_with_public_key(PUBLIC_PEM)}",
    "HS256 keyed with the public JWK": lambda: (
        "Bearer " + hs256_with_public_key(json.dumps(public_jwk(EC_KEY, EC_KID, "ES384")).encode())
    ),
    "missing kid": lambda: f"Bearer {token(BASE_URL + DISCOVERY, kid=None)}",
    "unknown kid": lambda: f"Bearer {token(BASE_URL + DISCOVERY, kid='no-such-key')}",
    "RS384 naming the EC key's kid": lambda: (
        "Bearer " + token(BASE_URL + DISCOVERY, alg="RS384", key=RSA_KEY, kid=EC_KID)
    ),
    "ES256 naming the P-384 key's kid": lambda: (
        "Bearer "
        + token(BASE_URL + DISCOVERY, alg="ES256", key=ec.generate_private_key(ec.SECP256R1()), kid=EC_KID)
    ),
    "alg an array (unhashable)": lambda: (
        "Bearer " + unsigned_parts({"alg": ["ES384"], "kid": EC_KID}, {"iss": ISSUER}) + ".c2ln"
    ),
    "PS384 (not on the list)": lambda: (
        "Bearer " + token(BASE_URL + DISCOVERY, alg="PS384", key=RSA_KEY, kid=RSA_KID)
    ),
    "typ not JWT": lambda: f"Bearer {token(BASE_URL + DISCOVERY, headers={'typ': 'at+jwt'})}",
    "crit header": lambda: f"Bearer {token(BASE_URL + DISCOVERY, headers={'crit': ['exp'], 'exp': 1})}",
    "expired": lambda: f"Bearer {token(BASE_URL + DISCOVERY, iat=1_700_000_000, exp=1_700_000_300)}",
    "issued in the future": lambda: (
        "Bearer " + token(BASE_URL + DISCOVERY, iat=int(datetime.now(UTC).timestamp()) + 600)
    ),
    "not before in the future": lambda: (
        "Bearer " + token(BASE_URL + DISCOVERY, nbf=int(datetime.now(UTC).timestamp()) + 600)
    ),
    "lifetime over an hour": lambda: (
        "Bearer " + token(BASE_URL + DISCOVERY, exp=int(datetime.now(UTC).timestamp()) + 2 * 3600)
    ),
    "exp missing": lambda: f"Bearer {token(BASE_URL + DISCOVERY, exp=None)}",
    "iat missing": lambda: f"Bearer {token(BASE_URL + DISCOVERY, iat=None)}",
    "exp a string": lambda: f"Bearer {token(BASE_URL + DISCOVERY, exp='2099-01-01')}",
    "jti missing": lambda: f"Bearer {token(BASE_URL + DISCOVERY, jti=None)}",
    "jti empty": lambda: f"Bearer {token(BASE_URL + DISCOVERY, jti='')}",
    "token too long": lambda: f"Bearer {token(BASE_URL + DISCOVERY, padding='x' * 9000)}",
}

# The fixed word each refusal is logged with: proves each case fails at the check it is meant to hit.
REASONS = {
    "Basic scheme": "not-bearer",
    "Bearer without token": "not-bearer",
    "ES256 naming the P-384 key's kid": "key-algorithm",
    "HS256 keyed with the public JWK": "algorithm",
    "HS256 keyed with the public PEM": "algorithm",
    "alg an array (unhashable)": "algorithm",
    "PS384 (not on the list)": "algorithm",
    "RS384 naming the EC key's kid": "key-algorithm",
    "alg none, empty signature": "malformed",
    "alg none, some signature": "algorithm",
    "audience missing": "audience",
    "audience not a string": "audience",
    "audience on another host": "audience",
    "crit header": "malformed",
    "empty header": "missing",
    "exp a string": "time-claims",
    "exp missing": "time-claims",
    "expired": "expired",
    "iat missing": "time-claims",
    "issued in the future": "not-yet-valid",
    "issuer missing": "issuer",
    "jku off the allowlist, kid not configured": "jku",
    "jti empty": "jti",
    "jti missing": "jti",
    "lifetime over an hour": "lifetime",
    "missing kid": "kid",
    "no header": "missing",
    "not a JWT": "malformed",
    "not before in the future": "not-yet-valid",
    "signed by another key, same kid": "signature",
    "tampered payload": "signature",
    "tampered signature": "signature",
    "token too long": "malformed",
    "typ not JWT": "typ",
    "unknown issuer": "issuer",
    "unknown kid": "unknown-kid",
    "wrong audience (array)": "audience",
    "wrong audience (string)": "audience",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_tokens_get_a_bare_401(cds: CdsClient, case: str, caplog: pytest.LogCaptureFixture) -> None:
    authorization = REFUSED[case]()

    with caplog.at_level(logging.INFO, logger="dn_cds.security"):
        response = discovery_with(cds, authorization)

    assert_unauthorized(response)
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "auth-refused"]
    assert record.levelno == logging.INFO
    assert record.reason == REASONS[case]
    secret = (authorization or "").partition(" ")[2]
    assert not secret or secret not in caplog.text


def test_replayed_jti_is_refused(cds: CdsClient) -> None:
    authorization = f"Bearer {token(BASE_URL + DISCOVERY)}"

    assert discovery_with(cds, authorization).status_code == 200
    assert_unauthorized(discovery_with(cds, authorization))


def test_same_jti_from_two_issuers_is_not_a_replay() -> None:
    other = IssuerTrust(issuer="https://other-ehr.example/", jwks_json=json.dumps(jwk_set()))
    verifier = TokenVerifier([issuer_trust(), other], JwksCache(), InMemoryReplayGuard())

    verifier.verify(token(BASE_URL + DISCOVERY, jti="same"), BASE_URL + DISCOVERY)
    verifier.verify(token(BASE_URL + DISCOVERY, jti="same", iss=other.issuer), BASE_URL + DISCOVERY)
    with pytest.raises(AuthError) as refused:
        verifier.verify(token(BASE_URL + DISCOVERY, jti="same"), BASE_URL + DISCOVERY)
    assert refused.value.reason == "replayed"


def test_refused_tokens_are_not_remembered_as_used(cds: CdsClient) -> None:
    """Only a verified token enters the replay cache: a forged copy cannot burn a real token's jti."""
    jti = str(uuid.uuid4())
    forged = token(BASE_URL + DISCOVERY, jti=jti, key=ec.generate_private_key(ec.SECP384R1()))

    assert_unauthorized(discovery_with(cds, f"Bearer {forged}"))
    assert discovery_with(cds, f"Bearer {token(BASE_URL + DISCOVERY, jti=jti)}").status_code == 200


def test_every_protected_route_needs_a_token(cds: CdsClient) -> None:
    client = CdsClient(cds.client, signed=False)

    assert_unauthorized(client.raw("GET", DISCOVERY))
    assert_unauthorized(client.raw("POST", SELECT, json={}))
    assert_unauthorized(client.raw("POST", FEEDBACK, json={}))
    assert_unauthorized(client.raw("POST", "/cds-services/no-such-service", json={}))  # no probing
    assert client.raw("GET", "/healthz").status_code == 200


def test_unauthenticated_body_is_never_read(cds: CdsClient) -> None:
    """A 401 comes before the body limit or JSON parsing: an anonymous caller cannot make us parse."""
    client = CdsClient(cds.client, signed=False)

    response = client.raw("POST", SELECT, data=b"x" * (6 * 1024 * 1024), content_type="application/json")

    assert_unauthorized(response)


# --- tenants, jku and the spec's example ------------------------------------------------------------------

JKU_PREFIX = "https://ehr.test.example/keys/"
JKU = JKU_PREFIX + "jwks.json"


@pytest.fixture(scope="module")
def strict_app() -> Flask:
    """Trusts the test issuer only for tenant-a, with keys by jku under JKU_PREFIX (no configured JWKS)."""
    trust = IssuerTrust(issuer=ISSUER, jku_prefixes=(JKU_PREFIX,), tenants=("tenant-a",))
    return create_app(Settings(trusted_issuers=(trust,)), today=lambda: TODAY)


@pytest.fixture
def strict(strict_app: Flask) -> Iterator[CdsClient]:
    with strict_app.test_client() as client:
        yield CdsClient(client, signed=False)


@responses.activate
def test_tenant_and_jku_on_the_allowlist_are_accepted(strict: CdsClient) -> None:
    responses.get(JKU, json=jwk_set())
    authorization = f"Bearer {token(BASE_URL + DISCOVERY, tenant='tenant-a', headers={'jku': JKU})}"

    assert strict.raw("GET", DISCOVERY, headers={"Authorization": authorization}).status_code == 200


@responses.activate
@pytest.mark.parametrize(
    ("tenant", "jku"),
    [
        ("tenant-b", JKU),  # tenant not allowed
        (None, JKU),  # tenant required when the issuer lists tenants
        ("tenant-a", None),  # no jku and no configured JWKS: no key source
        ("tenant-a", "https://ehr.test.example/other/jwks.json"),  # outside the prefix
        ("tenant-a", "https://ehr.test.example/keys/../admin/jwks.json"),  # dot segments
        ("tenant-a", "https://ehr.test.example.intruder.net/keys/jwks.json"),  # look-alike host
        ("tenant-a", "http://ehr.test.example/keys/jwks.json"),  # scheme downgrade
        ("tenant-a", "https://ehr.test.example:8443/keys/jwks.json"),  # other port
        ("tenant-a", "https://user@ehr.test.example/keys/jwks.json"),  # credentials
    ],
)
def test_tenant_or_jku_not_allowed_is_refused(strict: CdsClient, tenant: str | None, jku: str | None) -> None:
    responses.get(JKU, json=jwk_set())
    headers = {"jku": jku} if jku else {}
    authorization = f"Bearer {token(BASE_URL + DISCOVERY, tenant=tenant, headers=headers)}"

    assert_unauthorized(strict.raw("GET", DISCOVERY, headers={"Authorization": authorization}))
    if jku != JKU:
        assert len(responses.calls) == 0  # nothing off the allowlist is ever fetched


@pytest.mark.parametrize(
    ("url", "prefix", "under"),
    [
        ("https://a.example/keys/jwks.json", "https://a.example/keys/", True),
        ("https://a.example/keys/jwks.json", "https://a.example/keys", True),
        ("https://a.example/keys", "https://a.example/keys", True),
        ("https://A.EXAMPLE/keys/x", "https://a.example/keys/", True),
        ("https://a.example/keysmith/x", "https://a.example/keys", False),
        ("https://a.example.evil/keys/x", "https://a.example/keys/", False),
        ("https://a.example/keys/x?u=1", "https://a.example/keys/", False),
        ("https://a.example/keys/x#f", "https://a.example/keys/", False),
        ("https://a.example:99999/keys/x", "https://a.example/keys/", False),
        ("https://a.example/", "https://a.example", True),
        ("https://a.example/keys/%2e%2e/admin", "https://a.example/keys/", False),
        ("https://a.example/keys/..%2Fadmin", "https://a.example/keys/", False),
        ("https://a.example/keys/..\\admin", "https://a.example/keys/", False),
    ],
)
def test_url_under_prefix(url: str, prefix: str, under: bool) -> None:
    assert url_under_prefix(url, prefix) is under


def spec_verifier(now: datetime) -> TokenVerifier:
    trust = IssuerTrust(issuer=SPEC_ISSUER, jku_prefixes=(SPEC_JKU,))
    return TokenVerifier([trust], JwksCache(), InMemoryReplayGuard(lambda: now), now=lambda: now)


@responses.activate
def test_the_spec_example_token_is_refused_because_it_expired() -> None:
    responses.get(SPEC_JKU, json=SPEC_JWKS)
    audience = "https://cds.example.org/cds-services/some-service"

    with pytest.raises(AuthError) as refused:
        spec_verifier(datetime.now(UTC)).verify(SPEC_TOKEN, audience)
    assert refused.value.reason == "expired"

    # The same token, verified at a moment before its exp: signature, aud, iss, jku all pass, so expiry
    # alone is what refuses it today.
    before_expiry = datetime.fromtimestamp(1422568860 - 120, UTC)
    verified = spec_verifier(before_expiry).verify(SPEC_TOKEN, audience)
    assert verified.issuer == SPEC_ISSUER
    assert verified.tenant == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"
    assert len(responses.calls) == 1  # the JWKS came from the allowlisted jku


def test_the_spec_example_token_is_refused_over_http() -> None:
    trust = IssuerTrust(issuer=SPEC_ISSUER, jwks_json=json.dumps(SPEC_JWKS), jku_prefixes=(SPEC_JKU,))
    settings = Settings(public_base_url="https://cds.example.org", trusted_issuers=(trust,))
    with create_app(settings, today=lambda: TODAY).test_client() as client:
        response = client.post(
            "/cds-services/some-service", json={}, headers={"Authorization": f"Bearer {SPEC_TOKEN}"}
        )

    assert_unauthorized(response)


def test_a_fresh_token_from_the_spec_private_key_is_accepted() -> None:
    """The spec's private JWK signs a valid token (the test vector in design section 9)."""
    private = dict(SPEC_JWKS["keys"][0], d="SeFXUXda8UomZ8GFUl7HH_Oi15rIbfMcsWj9ecIsDR8kLbqsEz2CGNgwy_IcILxy")
    key = jwt.PyJWK(private).key
    now = datetime.now(UTC)
    fresh = token(
        "https://cds.example.org/cds-services/some-service", key=key, kid="example-kid", iss=SPEC_ISSUER
    )
    trust = IssuerTrust(issuer=SPEC_ISSUER, jwks_json=json.dumps(SPEC_JWKS))
    verifier = TokenVerifier([trust], JwksCache(), InMemoryReplayGuard(), now=lambda: now)

    assert verifier.verify(fresh, "https://cds.example.org/cds-services/some-service").issuer == SPEC_ISSUER


# --- unit level -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "Bearer", "Bearer  ", "Token abc", "Basic abc"])
def test_bearer_token_refuses(value: str | None) -> None:
    with pytest.raises(AuthError):
        bearer_token(value)


def test_replay_guard_is_atomic_across_threads() -> None:
    guard = InMemoryReplayGuard()
    expires = datetime.now(UTC) + timedelta(minutes=5)
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def attempt() -> None:
        barrier.wait()
        results.append(guard.first_use(ISSUER, "one-jti", expires))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 15 + [True]


def test_replay_guard_forgets_expired_entries() -> None:
    moment = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    guard = InMemoryReplayGuard(lambda: moment[0])
    for index in range(3000):
        assert guard.first_use(ISSUER, f"jti-{index}", moment[0] + timedelta(minutes=5))
    moment[0] += timedelta(minutes=6)

    assert guard.first_use(ISSUER, "jti-0", moment[0] + timedelta(minutes=5))  # expired: usable again
    assert guard.first_use(ISSUER, "fresh", moment[0] + timedelta(minutes=5))
    assert len(guard) < 3000  # purged


def test_auth_off_lets_calls_through_and_says_so_loudly(caplog: pytest.LogCaptureFixture) -> None:
    """DN_CDS_AUTH=off is for local development only (this test needs auth off on purpose)."""
    with caplog.at_level(logging.WARNING, logger="dn_cds.security"):
        app = create_app(Settings(auth="off"), today=lambda: TODAY)
    with app.test_client() as client:
        response = client.get(DISCOVERY)

    assert response.status_code == 200
    assert any("NOT authenticated" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_default_settings_trust_only_the_local_client(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from cds_service.local_client import JWKS_FILE, PRIVATE_KEY_FILE, sign_service_request

    with caplog.at_level(logging.WARNING, logger="dn_cds.security"):
        app = create_app(Settings(data_dir=tmp_path / "data"), today=lambda: TODAY)
    key_file = tmp_path / "data" / PRIVATE_KEY_FILE

    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / JWKS_FILE).exists()
    assert any("DN_CDS_TRUSTED_ISSUERS is not set" in r.getMessage() for r in caplog.records)
    with app.test_client() as client:
        local = sign_service_request(BASE_URL + DISCOVERY, data_dir=tmp_path / "data")
        assert client.get(DISCOVERY, headers=local).status_code == 200
        assert client.get(DISCOVERY, headers=bearer(DISCOVERY)).status_code == 401  # test issuer: not trusted
    # A second start (or a second process) keeps the same key.
    before = key_file.read_bytes()
    create_app(Settings(data_dir=tmp_path / "data"), today=lambda: TODAY)
    assert key_file.read_bytes() == before
