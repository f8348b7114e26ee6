"""Flask wiring of authentication and CORS: who may call ``/cds-services`` and from which browser origins.

Every request under ``/cds-services`` (discovery, service calls, feedback, and unknown paths there, so an
unauthenticated caller cannot probe) needs a valid CDS Hooks JWT unless ``DN_CDS_AUTH=off``. ``/healthz``,
``/openapi.json`` and CORS preflights need none. A refused call gets 401 with an OperationOutcome that says
"unauthorized" and nothing else; the reason goes to the log as a fixed word, never with the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, g, jsonify, request

from cds_service.auth import (
    AuthError,
    InMemoryReplayGuard,
    KeyLookup,
    TokenReplayGuard,
    TokenVerifier,
    bearer_token,
)
from cds_service.cors import CorsPolicy
from cds_service.errors import operation_outcome
from cds_service.jwks import JwksCache, JwksError, KeySource
from cds_service.local_client import LOCAL_ISSUER, local_issuer_trust
from cds_service.metrics import service_metrics, word
from cds_service.settings import Settings, SettingsError
from cds_service.trust import IssuerTrust

security_log = logging.getLogger("dn_cds.security")
PROTECTED_PREFIX = "/cds-services"


def trusted_issuers(settings: Settings) -> tuple[IssuerTrust, ...]:
    """``DN_CDS_TRUSTED_ISSUERS``, or else the embedded default: the local client key in the data dir."""
    if settings.trusted_issuers:
        return settings.trusted_issuers
    trust = local_issuer_trust(settings.data_dir)
    security_log.warning(
        "DN_CDS_TRUSTED_ISSUERS is not set: trusting only the local client %s (key in %s), which dn-cds "
        "demo/check use; set DN_CDS_TRUSTED_ISSUERS to let EHRs call",
        LOCAL_ISSUER,
        settings.data_dir,
        extra={"event": "auth-default-local-issuer"},
    )
    return (trust,)


def build_verifier(
    settings: Settings,
    *,
    now: Callable[[], datetime],
    replay_guard: TokenReplayGuard | None = None,
    keys: KeyLookup | None = None,
) -> TokenVerifier | None:
    """The token verifier for ``settings`` (``None`` when ``DN_CDS_AUTH=off``); JWK files checked now."""
    if settings.auth == "off":
        security_log.warning(
            "DN_CDS_AUTH=off: EHR calls are NOT authenticated. Use this only for local development, "
            "never where patient data or a network is involved.",
            extra={"event": "auth-off"},
        )
        return None
    issuers = trusted_issuers(settings)
    cache = JwksCache(fetch_deadline_seconds=settings.jwks_fetch_deadline_seconds)
    for trust in issuers:
        if trust.jwks_url is not None:
            cache.pin(KeySource("url", trust.jwks_url))
        for source in _local_sources(trust):
            try:
                cache.preload(source)
            except JwksError as error:
                raise SettingsError(f"DN_CDS_TRUSTED_ISSUERS: issuer {trust.issuer!r}: {error}") from None
    return TokenVerifier(issuers, keys or cache, replay_guard or InMemoryReplayGuard(now), now=now)


def _local_sources(trust: IssuerTrust) -> list[KeySource]:
    if trust.jwks_file is not None:
        return [KeySource("file", str(trust.jwks_file))]
    if trust.jwks_json is not None:
        return [KeySource("inline", trust.jwks_json)]
    return []


def unauthorized() -> Response:
    """The 401 answer: no detail beyond "unauthorized" (CDS Hooks best practice)."""
    response = jsonify(operation_outcome("unauthorized", "login"))
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def install_security(app: Flask, settings: Settings, verifier: TokenVerifier | None) -> None:
    """Register the CORS and authentication hooks (after the access log's timer, so 401s are timed)."""
    cors = CorsPolicy(settings.cors_origins)

    @app.before_request
    def security_gate() -> Response | None:
        if _is_preflight():
            preflight = Response(status=204)
            preflight.headers.update(
                cors.preflight_headers(
                    request.headers.get("Origin"), request.headers.get("Access-Control-Request-Method")
                )
            )
            return preflight
        if verifier is None or request.method == "OPTIONS" or not _protected(request.path):
            return None
        try:
            token = verifier.verify(
                bearer_token(request.headers.get("Authorization")), settings.base_url + request.path
            )
        except AuthError as error:
            security_log.info(
                "unauthorized: %s",
                error.reason,
                extra={"event": "auth-refused", "reason": error.reason, "iss": error.issuer},
            )
            service_metrics().token_refusals.labels(reason=word(error.reason)).inc()
            return unauthorized()
        g.token_issuer = token.issuer
        g.tenant = token.tenant
        return None

    @app.after_request
    def cors_and_cache_headers(response: Response) -> Response:
        if not _is_preflight():
            response.headers.update(cors.response_headers(request.headers.get("Origin")))
        if _protected(request.path):
            response.headers["Cache-Control"] = "no-store"  # cards and errors may concern a patient
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _protected(path: str) -> bool:
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")
