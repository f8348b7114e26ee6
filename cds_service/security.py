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

from flask import Flask, Response, current_app, g, jsonify, request

from cds_service.audit_trail import DEFERRED_TOKEN
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
from cds_service.store import StoreUnavailable, TokenReplayStore
from cds_service.store.replay import ReplayedToken
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
    guard = InMemoryReplayGuard(now) if replay_guard is None else replay_guard  # an empty guard is falsy
    return TokenVerifier(issuers, cache if keys is None else keys, guard, now=now)


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


def install_security(
    app: Flask,
    settings: Settings,
    verifier: TokenVerifier | None,
    deferred_replay: TokenReplayStore | None = None,
) -> None:
    """Register the CORS and authentication hooks (after the access log's timer, so 401s are timed).

    With ``deferred_replay`` (the store whose table is the verifier's replay guard, and which holds the
    audit), a hook call's token id is not claimed before evaluation: the gate only refuses an id already
    claimed, and the audit record's transaction claims it (SECURITY.md, section 5). Any other protected
    request claims its token id in the gate, as does every request with another replay guard."""
    cors = CorsPolicy(settings.cors_origins)

    def refused(reason: str, issuer: str | None) -> Response:
        security_log.info(
            "unauthorized: %s", reason, extra={"event": "auth-refused", "reason": reason, "iss": issuer}
        )
        service_metrics().token_refusals.labels(reason=word(reason)).inc()
        return unauthorized()

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
        defer = deferred_replay is not None and _is_hook_call()
        try:
            token = verifier.verify(
                bearer_token(request.headers.get("Authorization")),
                settings.base_url + request.path,
                seen=deferred_replay.seen if deferred_replay is not None and defer else None,
            )
        except AuthError as error:
            return refused(error.reason, error.issuer)
        g.token_issuer = token.issuer
        g.tenant = token.tenant
        if defer:
            g.setdefault(DEFERRED_TOKEN, token)  # claimed with the audit record (AuditTrail)
        return None

    @app.errorhandler(ReplayedToken)
    def replayed(_error: ReplayedToken) -> Response:
        """Another call claimed this hook call's token id first: its audit transaction wrote nothing."""
        return refused("replayed", g.get("token_issuer"))

    @app.after_request
    def cors_and_cache_headers(response: Response) -> Response:
        unclaimed = g.pop(DEFERRED_TOKEN, None)
        if unclaimed is not None and verifier is not None:  # not audited (never expected): claim it now
            try:
                first = verifier.replay_guard.first_use(unclaimed.issuer, unclaimed.jti, unclaimed.expires_at)
            except StoreUnavailable as error:
                response = jsonify(error.to_operation_outcome())
                response.status_code = error.status
            else:
                if not first:
                    response = refused("replayed", unclaimed.issuer)
        if not _is_preflight():
            response.headers.update(cors.response_headers(request.headers.get("Origin")))
        if _protected(request.path):
            response.headers["Cache-Control"] = "no-store"  # cards and errors may concern a patient
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _is_hook_call() -> bool:
    """A POST to a known service: the route audits it (and so claims a deferred token id)."""
    if request.method != "POST" or request.endpoint != "cds.call_service" or not request.view_args:
        return False
    service_id = request.view_args.get("service_id")
    return isinstance(service_id, str) and bool(current_app.extensions["dn_cds"].catalog.has_id(service_id))


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _protected(path: str) -> bool:
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")
