"""JWK Sets: fetched with ``responses`` (no real network), cached, rotated, rate-limited, size-limited."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from support.tokens import BASE_URL, EC_KEY, EC_KID, ISSUER, jwk_set, public_jwk, token

from cds_service.auth import AuthError, InMemoryReplayGuard, TokenVerifier
from cds_service.jwks import MAX_JWKS_BYTES, JwksCache, JwksError, KeySource, load_jwks, parse_jwk_set
from cds_service.trust import IssuerTrust

JWKS_URL = "https://ehr.test.example/.well-known/jwks.json"
AUD = BASE_URL + "/cds-services"
NEW_KEY = ec.generate_private_key(ec.SECP384R1())
NEW_KID = "rotated-in"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(cache: JwksCache) -> TokenVerifier:
    return TokenVerifier([IssuerTrust(issuer=ISSUER, jwks_url=JWKS_URL)], cache, InMemoryReplayGuard())


def rotated_set() -> dict[str, Any]:
    return {"keys": [*jwk_set()["keys"], public_jwk(NEW_KEY, NEW_KID, "ES384")]}


@responses.activate
def test_the_jwks_is_fetched_once_and_cached() -> None:
    responses.get(JWKS_URL, json=jwk_set())
    check = verifier(JwksCache(clock=Clock()))

    check.verify(token(AUD), AUD)
    check.verify(token(AUD, alg="RS384"), AUD)

    assert len(responses.calls) == 1
    request = responses.calls[0].request
    assert "jwk-set+json" in request.headers["Accept"]


@responses.activate
def test_an_unknown_kid_refetches_once_and_finds_the_rotated_key() -> None:
    responses.get(JWKS_URL, json=jwk_set())
    responses.get(JWKS_URL, json=rotated_set())
    clock = Clock()
    check = verifier(JwksCache(clock=clock, min_refresh_seconds=30))
    check.verify(token(AUD), AUD)
    clock.now += 31

    verified = check.verify(token(AUD, key=NEW_KEY, kid=NEW_KID), AUD)

    assert verified.issuer == ISSUER
    assert len(responses.calls) == 2


@responses.activate
def test_unknown_kids_are_rate_limited() -> None:
    """A flood of made-up kids costs the EHR's JWKS endpoint at most one fetch per interval."""
    responses.get(JWKS_URL, json=jwk_set())
    clock = Clock()
    check = verifier(JwksCache(clock=clock, min_refresh_seconds=30))
    check.verify(token(AUD), AUD)

    for attempt in range(20):
        clock.now += 1
        with pytest.raises(AuthError) as refused:
            check.verify(token(AUD, kid=f"made-up-{attempt}"), AUD)
        assert refused.value.reason == "unknown-kid"

    assert len(responses.calls) == 1  # 20 s later: still within the 30 s interval
    clock.now += 30
    with pytest.raises(AuthError):
        check.verify(token(AUD, kid="made-up-again"), AUD)
    assert len(responses.calls) == 2


@responses.activate
def test_the_cache_expires_after_its_ttl() -> None:
    responses.get(JWKS_URL, json=jwk_set())
    clock = Clock()
    check = verifier(JwksCache(clock=clock, ttl_seconds=300))
    check.verify(token(AUD), AUD)
    clock.now += 299
    check.verify(token(AUD), AUD)
    assert len(responses.calls) == 1
    clock.now += 2

    check.verify(token(AUD), AUD)

    assert len(responses.calls) == 2


@responses.activate
def test_a_failed_refresh_keeps_the_known_keys() -> None:
    responses.get(JWKS_URL, json=jwk_set())
    responses.get(JWKS_URL, status=503)
    clock = Clock()
    check = verifier(JwksCache(clock=clock, ttl_seconds=60, min_refresh_seconds=30))
    check.verify(token(AUD), AUD)
    clock.now += 61

    check.verify(token(AUD), AUD)  # the refresh failed; the cached key still verifies

    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize(
    "reply",
    [
        {"status": 500},
        {"status": 302, "headers": {"Location": "http://169.254.169.254/latest/meta-data/"}},
        {"body": "not json"},
        {"json": {"no": "keys"}},
        {"json": {"keys": "nope"}},
        {"body": json.dumps({"keys": [], "pad": "x" * MAX_JWKS_BYTES})},
        {"body": requests.ConnectionError("refused")},
        {"body": requests.Timeout("slow")},
        {"body": b"\xff\xfe"},
    ],
)
def test_bad_jwks_answers_are_errors_not_crashes(reply: dict[str, Any]) -> None:
    responses.get(JWKS_URL, **reply)

    with pytest.raises(JwksError):
        load_jwks(KeySource("url", JWKS_URL))
    with pytest.raises(AuthError) as refused:
        verifier(JwksCache(clock=Clock())).verify(token(AUD), AUD)
    assert refused.value.reason == "unknown-kid"
    assert all(call.request.url == JWKS_URL for call in responses.calls)  # no redirect followed


def test_unusable_keys_are_skipped() -> None:
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be refused
    private_ec = {**public_jwk(EC_KEY, "with-private-part", "ES384"), "d": "AAAA"}
    entries: list[Any] = [
        "not an object",
        {"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"},
        {**public_jwk(EC_KEY, "for-encryption", None), "use": "enc"},
        {k: v for k, v in public_jwk(EC_KEY, "x", None).items() if k != "kid"},
        public_jwk(small_rsa, "rsa-1024", None),
        {"kty": "EC", "kid": "broken", "crv": "P-384", "x": "AA", "y": "AA"},
        public_jwk(EC_KEY, EC_KID, "ES384"),
        public_jwk(NEW_KEY, EC_KID, "ES384"),  # duplicate kid: the first wins
        private_ec,
    ]

    keys = parse_jwk_set(entries)

    assert sorted(keys) == [EC_KID, "with-private-part"]
    assert keys[EC_KID].key.public_numbers() == EC_KEY.public_key().public_numbers()
    assert not hasattr(keys["with-private-part"].key, "private_numbers")  # the private part is dropped


def test_a_jwks_file_is_read_and_reread_on_rotation(tmp_path: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwk_set()))
    clock = Clock()
    cache = JwksCache(clock=clock, min_refresh_seconds=30)
    check = TokenVerifier([IssuerTrust(issuer=ISSUER, jwks_file=path)], cache, InMemoryReplayGuard())
    check.verify(token(AUD), AUD)
    path.write_text(json.dumps(rotated_set()))
    clock.now += 31

    assert check.verify(token(AUD, key=NEW_KEY, kid=NEW_KID), AUD).issuer == ISSUER


def test_a_missing_jwks_file_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(JwksError, match="cannot read file"):
        load_jwks(KeySource("file", str(tmp_path / "absent.json")))


@responses.activate
def test_a_flood_of_made_up_jku_urls_is_bounded_and_keeps_the_configured_keys() -> None:
    """jku URLs under an allowed prefix are the caller's choice and come before the signature check: they
    get a global fetch budget and a bounded cache, and cannot evict the issuer's configured (pinned) set."""
    prefix = "https://ehr.test.example/keys/"
    responses.get(JWKS_URL, json=jwk_set())
    for index in range(40):
        responses.get(f"{prefix}{index}.json", json={"keys": []})
    clock = Clock()
    cache = JwksCache(clock=clock, max_sources=8, max_jku_fetches=5)
    cache.pin(KeySource("url", JWKS_URL))
    trust = IssuerTrust(issuer=ISSUER, jwks_url=JWKS_URL, jku_prefixes=(prefix,))
    check = TokenVerifier([trust], cache, InMemoryReplayGuard())
    check.verify(token(AUD), AUD)

    for index in range(40):
        with pytest.raises(AuthError):
            check.verify(token(AUD, kid=f"made-up-{index}", headers={"jku": f"{prefix}{index}.json"}), AUD)

    jku_calls = [call for call in responses.calls if call.request.url != JWKS_URL]
    assert len(jku_calls) == 5  # the budget: 5 a minute
    assert len(cache._entries) <= 9  # 8 places for unproven sets, and the pinned one
    check.verify(token(AUD), AUD)  # the configured set is still cached: no refetch needed
    assert [call.request.url for call in responses.calls].count(JWKS_URL) == 1
    clock.now += 61
    with pytest.raises(AuthError):
        check.verify(token(AUD, kid="made-up", headers={"jku": f"{prefix}39.json"}), AUD)
    assert len([call for call in responses.calls if call.request.url != JWKS_URL]) == 6  # a new minute
