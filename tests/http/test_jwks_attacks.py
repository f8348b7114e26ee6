"""Key lookup under attack (issue 15 items 1-2, issue 13 item 1): a ``jku`` pointing elsewhere, floods of
made-up ``kid``/``jku`` values from unauthenticated callers, and slow JWKS endpoints (real local servers)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from support.clock import TODAY
from support.tokens import BASE_URL, ISSUER, jwk_set, public_jwk, token

from cds_service import Settings, create_app
from cds_service.auth import AuthError, InMemoryReplayGuard, TokenVerifier
from cds_service.jwks import JwksCache
from cds_service.trust import IssuerTrust

DISCOVERY = "/cds-services"
AUD = BASE_URL + DISCOVERY
SANDBOX = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = SANDBOX + "/.well-known/jwks.json"
OTHER_ISSUER = "https://other-ehr.test.example/"
OTHER_KEY = ec.generate_private_key(ec.SECP384R1())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- issue 13 item 1: the Sandbox's jku is not on the allowlist, its kid is in the configured file ----------


@pytest.fixture
def sandbox_app(tmp_path: Path) -> Any:
    """The SECURITY.md section 12 configuration: the Sandbox's published JWK Set as a file, no jku list."""
    key_file = tmp_path / "sandbox-jwks.json"
    key_file.write_text(json.dumps(jwk_set()))
    trust = IssuerTrust(issuer=SANDBOX, jwks_file=key_file)
    return create_app(Settings(trusted_issuers=(trust,), data_dir=tmp_path / "data"), today=lambda: TODAY)


@responses.activate
def test_a_sandbox_token_whose_kid_is_in_the_configured_file_is_accepted_without_a_fetch(
    sandbox_app: Any,
) -> None:
    sandbox_token = token(AUD, iss=SANDBOX, alg="ES384", headers={"jku": SANDBOX_JKU})

    with sandbox_app.test_client() as client:
        response = client.get(DISCOVERY, headers={"Authorization": f"Bearer {sandbox_token}"})

    assert response.status_code == 200
    assert len(responses.calls) == 0  # the configured key verified it: the jku was never fetched


@responses.activate
def test_a_kid_outside_the_configured_keys_with_a_jku_off_the_allowlist_is_refused_without_a_fetch(
    sandbox_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    forged = token(
        AUD, iss=SANDBOX, key=OTHER_KEY, kid="attacker-kid", headers={"jku": "https://attacker.example/k"}
    )

    with caplog.at_level(logging.INFO, logger="dn_cds.security"), sandbox_app.test_client() as client:
        response = client.get(DISCOVERY, headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401
    assert response.get_json()["issue"][0]["diagnostics"] == "unauthorized"
    assert len(responses.calls) == 0
    assert [r.reason for r in caplog.records if hasattr(r, "reason")] == ["jku"]  # the log says why


# --- issue 15 item 1: unauthenticated floods of made-up jku/kid values ------------------------------------

PREFIX = "https://ehr.test.example/keys/"
REAL_JKU = PREFIX + "real.json"
OTHER_PREFIX = "https://other-ehr.test.example/keys/"
OTHER_JKU = OTHER_PREFIX + "real.json"


def jku_verifier(cache: JwksCache) -> TokenVerifier:
    """Two issuers that publish their keys only through jku (no configured set)."""
    trusts = [
        IssuerTrust(issuer=ISSUER, jku_prefixes=(PREFIX,)),
        IssuerTrust(issuer=OTHER_ISSUER, jku_prefixes=(OTHER_PREFIX,)),
    ]
    return TokenVerifier(trusts, cache, InMemoryReplayGuard())


def flood(check: TokenVerifier, count: int, *, status: int = 500) -> None:
    """``count`` forged tokens (not signed by the issuer), made-up kids and jku URLs under the prefix."""
    for index in range(count):
        url = f"{PREFIX}made-up-{index}.json"
        responses.get(url, status=status) if status != 200 else responses.get(url, json={"keys": []})
        forged = token(AUD, key=OTHER_KEY, kid=f"made-up-{index}", headers={"jku": url})
        with pytest.raises(AuthError):
            check.verify(forged, AUD)


@responses.activate
@pytest.mark.parametrize("status", [500, 200])  # failing sets, and empty sets that load fine
def test_a_flood_of_made_up_jku_cannot_push_out_the_set_that_verified_real_tokens(status: int) -> None:
    responses.get(REAL_JKU, json=jwk_set())
    clock = Clock()
    cache = JwksCache(clock=clock, max_sources=8, max_jku_fetches=5)
    check = jku_verifier(cache)
    check.verify(token(AUD, headers={"jku": REAL_JKU}), AUD)

    for _ in range(3):  # three minutes of attack: each minute's budget spent again
        flood(check, 150, status=status)
        assert check.verify(token(AUD, headers={"jku": REAL_JKU}), AUD).issuer == ISSUER
        clock.now += 61

    real_fetches = [call.request.url for call in responses.calls].count(REAL_JKU)
    assert real_fetches == 1  # never evicted, never refetched
    assert len(responses.calls) <= 1 + 3 * 5  # the budget bounds the fetches the flood causes


@responses.activate
def test_one_issuers_flood_does_not_spend_another_issuers_fetch_budget() -> None:
    responses.get(OTHER_JKU, json={"keys": [public_jwk(OTHER_KEY, "other-kid", "ES384")]})
    check = jku_verifier(JwksCache(clock=Clock(), max_sources=8, max_jku_fetches=5))

    flood(check, 50)
    other = token(AUD, iss=OTHER_ISSUER, key=OTHER_KEY, kid="other-kid", headers={"jku": OTHER_JKU})

    assert check.verify(other, AUD).issuer == OTHER_ISSUER


@responses.activate
def test_failed_loads_take_no_place_from_key_sets() -> None:
    """The real set is loaded first, but has not verified a token yet when the failures pour in."""
    responses.get(REAL_JKU, json=jwk_set())
    cache = JwksCache(clock=Clock(), max_sources=2, max_jku_fetches=100)
    check = jku_verifier(cache)
    with pytest.raises(AuthError):  # loads the real set, but the token is forged
        check.verify(token(AUD, key=OTHER_KEY, headers={"jku": REAL_JKU}), AUD)

    flood(check, 20, status=500)

    assert check.verify(token(AUD, headers={"jku": REAL_JKU}), AUD).issuer == ISSUER
    assert [call.request.url for call in responses.calls].count(REAL_JKU) == 1


# --- issue 15 item 2: slow JWKS endpoints, real servers on 127.0.0.1 -------------------------------------


class KeyServer:
    """A JWKS endpoint on 127.0.0.1. ``/keys`` answers at once the first time; later answers (and every
    answer of ``/trickle``) come a byte at a time until ``release`` is set or the body is sent."""

    def __init__(self) -> None:
        self.body = json.dumps(jwk_set()).encode()
        self.requests = 0
        self.slow_started = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                slow = self.path == "/trickle" or server.requests > 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if not slow:
                    self.wfile.write(server.body)
                    return
                server.slow_started.set()
                try:
                    for byte in server.body:
                        if server.release.wait(0.02):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:
                    return

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> KeyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    with KeyServer() as server:
        yield server


def test_a_trickling_jwks_endpoint_is_cut_at_the_fetch_deadline(
    key_server: KeyServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The body would arrive whole, in a few seconds: the total deadline (from the settings) refuses it."""
    trust = IssuerTrust(issuer=ISSUER, jwks_url=key_server.url + "/trickle")
    settings = Settings(trusted_issuers=(trust,), data_dir=tmp_path, jwks_fetch_deadline_seconds=0.2)
    app = create_app(settings, today=lambda: TODAY)

    with caplog.at_level(logging.INFO, logger="dn_cds.security"), app.test_client() as client:
        response = client.get(DISCOVERY, headers={"Authorization": f"Bearer {token(AUD)}"})

    assert response.status_code == 401
    assert any("took longer than 0.2 s" in r.getMessage() for r in caplog.records)


def test_a_slow_refetch_holds_no_lock_over_the_keys_already_known(key_server: KeyServer) -> None:
    """While a made-up kid's refetch hangs on a trickling endpoint, real tokens are served from the cache."""
    clock = Clock()
    cache = JwksCache(clock=clock, fetch_deadline_seconds=30.0)
    check = TokenVerifier(
        [IssuerTrust(issuer=ISSUER, jwks_url=key_server.url + "/keys")], cache, InMemoryReplayGuard()
    )
    check.verify(token(AUD), AUD)  # the first load is quick
    clock.now += 31  # past min_refresh: an unknown kid may refetch

    refetch = threading.Thread(target=lambda: _refused(check, token(AUD, key=OTHER_KEY, kid="made-up")))
    refetch.start()
    assert key_server.slow_started.wait(10)  # the refetch is now reading a trickle
    answered = threading.Event()
    results: list[str] = []

    def real_call() -> None:
        results.append(check.verify(token(AUD), AUD).issuer)
        answered.set()

    threading.Thread(target=real_call, daemon=True).start()
    try:
        assert answered.wait(10), "a real token waited for another caller's JWKS fetch"
        assert results == [ISSUER]
    finally:
        key_server.release.set()
        refetch.join()


def test_callers_of_a_set_being_loaded_wait_for_that_one_fetch(key_server: KeyServer) -> None:
    """Concurrent first calls share one fetch rather than each starting their own."""
    cache = JwksCache(fetch_deadline_seconds=30.0)
    check = TokenVerifier(
        [IssuerTrust(issuer=ISSUER, jwks_url=key_server.url + "/keys")], cache, InMemoryReplayGuard()
    )
    barrier = threading.Barrier(8)
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        results.append(check.verify(token(AUD), AUD).issuer)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [ISSUER] * 8
    assert key_server.requests == 1


def _refused(check: TokenVerifier, forged: str) -> None:
    with pytest.raises(AuthError):
        check.verify(forged, AUD)


def test_fetch_deadline_setting_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"DN_CDS_JWKS_FETCH_DEADLINE_SECONDS": "0.5"})
    assert settings.jwks_fetch_deadline_seconds == 0.5
