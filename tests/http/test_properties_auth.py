"""Property-based fuzzing of the headers that carry trust: Authorization, Origin and preflight headers.

Whatever arrives, the answer is a conformant 401 (or 200 for an untouched valid token, 204 for a preflight),
never a 5xx, and never slower than a bounded check (the token parser refuses oversized input first).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cds_client import CdsClient
from support.tokens import BASE_URL, EC_KID, ISSUER, token

pytestmark = pytest.mark.slow  # hundreds of generated requests per test
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DISCOVERY = "/cds-services"
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300)


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_any = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


@st.composite
def forged_tokens(draw: st.DrawFn) -> str:
    """A real token with one segment replaced by fuzz, or header/claims replaced by arbitrary JSON."""
    header, payload, signature = token(BASE_URL + DISCOVERY).split(".")
    choice = draw(
        st.sampled_from(
            [
                "header-json",
                "claims-json",
                "trusted-claims",
                "trusted-header",
                "segment",
                "signature-bytes",
                "dots",
            ]
        )
    )
    now = int(time.time())
    if choice == "trusted-claims":  # past the issuer and audience checks: every later claim check is fuzzed
        claims = {"iss": ISSUER, "aud": draw(st.sampled_from([BASE_URL + DISCOVERY, [BASE_URL + DISCOVERY]]))}
        for name, valid in (("exp", now + 300), ("iat", now), ("jti", "j"), ("nbf", now), ("tenant", "t")):
            if draw(st.booleans()):
                claims[name] = draw(st.just(valid) | json_any)
        payload = b64(claims)
    elif choice == "trusted-header":
        fuzzed: dict[str, Any] = {"alg": draw(st.sampled_from(["ES384", "RS384", "ES256"]) | json_any)}
        for name in ("kid", "typ", "jku", "crit", "x5u", "jwk"):
            if draw(st.booleans()):
                fuzzed[name] = draw(json_any | st.just(EC_KID) | st.just("https://ehr.test.example/keys/x"))
        header = b64(fuzzed)
    elif choice == "header-json":
        header = b64(
            draw(json_any | st.fixed_dictionaries({"alg": json_any, "kid": json_any, "jku": json_any}))
        )
    elif choice == "claims-json":
        payload = b64(
            draw(json_any | st.fixed_dictionaries({"iss": json_any, "aud": json_any, "exp": json_any}))
        )
    elif choice == "segment":
        replacement = draw(st.text(alphabet="ABCxyz019-_=+/.", max_size=40))
        header, payload, signature = draw(
            st.sampled_from([(replacement, payload, signature), (header, replacement, signature)])
        )
    elif choice == "signature-bytes":
        signature = b64(draw(st.binary(max_size=120)))
    else:
        return draw(st.sampled_from([".", "..", "...", f"{header}..{signature}", f"{header}.{payload}"]))
    return f"{header}.{payload}.{signature}"


@FUZZ
@given(value=header_text)
def test_any_authorization_header_is_a_clean_401(cds: CdsClient, value: str) -> None:
    client = CdsClient(cds.client, signed=False)

    response = client.raw("GET", DISCOVERY, headers={"Authorization": value})

    assert response.status_code == 401


@FUZZ
@given(forged=forged_tokens(), scheme=st.sampled_from(["Bearer", "bearer", "BEARER"]))
def test_forged_tokens_are_a_clean_401(cds: CdsClient, forged: str, scheme: str) -> None:
    client = CdsClient(cds.client, signed=False)

    response = client.raw("GET", DISCOVERY, headers={"Authorization": f"{scheme} {forged}"})

    assert response.status_code == 401


@FUZZ
@given(
    origin=st.none() | header_text | st.sampled_from(["https://sandbox.cds-hooks.org", "null", "*"]),
    method=st.none() | st.sampled_from(["GET", "POST", "PUT", "DELETE", "TRACE", "x" * 300]) | header_text,
    requested_headers=st.none() | header_text,
)
def test_preflight_and_origin_headers_never_fail(
    cds: CdsClient, origin: str | None, method: str | None, requested_headers: str | None
) -> None:
    headers = {
        name: value
        for name, value in {
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": requested_headers,
        }.items()
        if value is not None
    }
    preflight = cds.client.options(f"{DISCOVERY}/dry-needling-order-select", headers=headers)
    actual = cds.raw("GET", DISCOVERY, headers=headers)

    assert preflight.status_code in {200, 204}
    assert actual.status_code == 200
    assert "Access-Control-Allow-Credentials" not in preflight.headers
