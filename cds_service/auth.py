"""Authentication of the CDS client: the JWT bearer token of CDS Hooks (spec "Trusting CDS Clients").

Checks, in the order of the CDS Hooks best practices (cheap refusals first, the signature before anything is
remembered): the token's shape and size -> header (``alg`` asymmetric and pinned, ``kid`` present, ``typ``
JWT) -> ``iss`` on the trust list -> ``aud`` equal to the called endpoint's URL -> ``exp``/``iat``/``nbf``
with a small leeway and a bounded lifetime -> ``tenant`` allowed -> ``jti`` present -> the key: from the
issuer's configured JWK Set whatever the ``jku`` header says, else from the ``jku`` URL only when it is on the
issuer's allowlist -> the signature -> ``jti`` not seen before (replay).

Every refusal is an :class:`AuthError` whose ``reason`` is a fixed word for the log; the HTTP answer says only
"unauthorized". Neither the token nor any part of it is logged or kept (the replay guard keeps
``(iss, jti)`` until the token expires).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt

from cds_service.jwks import KeySource, SigningKey
from cds_service.trust import IssuerTrust

ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512"})
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
LEEWAY_SECONDS = 60
MAX_LIFETIME_SECONDS = (
    3600  # CDS Hooks best practice: JWTs live minutes; the replay cache keeps jti this long
)
MAX_TOKEN_CHARS = 8192
MAX_CLAIM_CHARS = 512
_PURGE_INTERVAL = timedelta(minutes=1)
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class AuthError(Exception):
    """The request is not authenticated. ``reason`` is a fixed word, safe to log; ``issuer`` is the claimed
    ``iss`` when one was readable (unverified, for the log only)."""

    def __init__(self, reason: str, issuer: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.issuer = issuer


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a valid token says about its caller (safe to log: no token material)."""

    issuer: str
    jti: str
    expires_at: datetime
    tenant: str | None = None


class TokenReplayGuard(Protocol):
    """Remembers ``(issuer, jti)`` until ``expires_at``; ``first_use`` is False for a jti seen before.

    ``expires_at`` is timezone-aware (UTC): the token's ``exp`` plus the leeway, after which the pair may be
    forgotten. Implementations must be atomic (two concurrent calls with the same pair: exactly one gets
    True), and, to protect several workers or replicas, shared between them (e.g. a database table with a
    unique key on issuer and jti).
    """

    def first_use(self, issuer: str, jti: str, expires_at: datetime) -> bool: ...


class InMemoryReplayGuard:
    """A :class:`TokenReplayGuard` for one process (thread-safe). Several processes need a shared store."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._next_purge = 1024
        self._purge_at = self._now() + _PURGE_INTERVAL

    def first_use(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """True the first time ``(issuer, jti)`` is presented while unexpired, False after that."""
        now = self._now()
        with self._lock:
            if len(self._seen) >= self._next_purge or now >= self._purge_at:
                self._seen = {key: until for key, until in self._seen.items() if until > now}
                self._next_purge = max(1024, 2 * len(self._seen))
                self._purge_at = now + _PURGE_INTERVAL
            until = self._seen.get((issuer, jti))
            if until is not None and until > now:
                return False
            self._seen[(issuer, jti)] = expires_at
            return True

    def __len__(self) -> int:
        return len(self._seen)


class KeyLookup(Protocol):
    """Finds a verification key by source and ``kid`` (:class:`cds_service.jwks.JwksCache`)."""

    def key(
        self, source: KeySource, kid: str, *, issuer: str = "", rotate: bool = True
    ) -> SigningKey | None: ...

    def verified(self, source: KeySource) -> None: ...


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if not authorization:
        raise AuthError("missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("not-bearer")
    return token.strip()


def same_url(claimed: str, expected: str) -> bool:
    """``aud`` matching: exact, except that a trailing slash is ignored on both sides."""
    return claimed.rstrip("/") == expected.rstrip("/")


def key_source(trust: IssuerTrust) -> KeySource | None:
    """The issuer's configured JWK Set (``jwks_url``, ``jwks_file`` or inline ``jwks``), if any."""
    if trust.jwks_url is not None:
        return KeySource("url", trust.jwks_url)
    if trust.jwks_file is not None:
        return KeySource("file", str(trust.jwks_file))
    if trust.jwks_json is not None:
        return KeySource("inline", trust.jwks_json)
    return None


class TokenVerifier:
    """Verifies CDS Hooks client JWTs against a trust list. ``now`` is the clock (aware datetimes)."""

    def __init__(
        self,
        issuers: Iterable[IssuerTrust],
        keys: KeyLookup,
        replay_guard: TokenReplayGuard,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        leeway_seconds: int = LEEWAY_SECONDS,
        max_lifetime_seconds: int = MAX_LIFETIME_SECONDS,
    ) -> None:
        self.issuers: dict[str, IssuerTrust] = {trust.issuer: trust for trust in issuers}
        self.keys = keys
        self.replay_guard = replay_guard
        self.now = now
        self.leeway = leeway_seconds
        self.max_lifetime = max_lifetime_seconds

    def verify(
        self, token: str, audience: str, *, seen: Callable[[str, str], bool] | None = None
    ) -> VerifiedToken:
        """Check ``token`` for a call to the endpoint URL ``audience``; :class:`AuthError` if it fails.

        The last check claims the token id with the replay guard. With ``seen`` (the caller claims the id
        itself, later, e.g. in the transaction of its audit record) it only asks ``seen(issuer, jti)`` and
        refuses an id already claimed; the caller must then claim it before answering."""
        if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
            raise AuthError("malformed")
        header = _header(token)
        claims = _unverified_claims(token)
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in self.issuers:
            raise AuthError("issuer", _loggable(issuer))
        trust = self.issuers[issuer]
        try:
            expires_at = self._check_claims(claims, trust, audience)
            key, source = self._key(header, trust)
            _check_signature(token, key, header["alg"])
            self.keys.verified(source)
            if seen is not None:
                if seen(issuer, claims["jti"]):
                    raise AuthError("replayed")
            elif not self.replay_guard.first_use(issuer, claims["jti"], expires_at):
                raise AuthError("replayed")
        except AuthError as error:
            error.issuer = issuer
            raise
        tenant = claims.get("tenant")
        return VerifiedToken(issuer, claims["jti"], expires_at, tenant if isinstance(tenant, str) else None)

    def _check_claims(self, claims: Mapping[str, Any], trust: IssuerTrust, audience: str) -> datetime:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(item, str) and same_url(item, audience) for item in audiences):
            raise AuthError("audience")
        exp, iat, nbf = _number(claims.get("exp")), _number(claims.get("iat")), _number(claims.get("nbf"))
        if exp is None or iat is None or (nbf is None and claims.get("nbf") is not None):
            raise AuthError("time-claims")
        now = self.now().timestamp()
        if now > exp + self.leeway:
            raise AuthError("expired")
        if iat > now + self.leeway or (nbf is not None and nbf > now + self.leeway):
            raise AuthError("not-yet-valid")
        if exp < iat or exp - now > self.max_lifetime + self.leeway:
            raise AuthError("lifetime")
        tenant = claims.get("tenant")
        if trust.tenants and tenant not in trust.tenants:
            raise AuthError("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError("tenant")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_CLAIM_CHARS:
            raise AuthError("jti")
        return datetime.fromtimestamp(exp + self.leeway, UTC)

    def _key(self, header: Mapping[str, Any], trust: IssuerTrust) -> tuple[SigningKey, KeySource]:
        """The key named by ``kid``, and the set it came from.

        A key in the issuer's configured set (file, inline or URL) is used whatever the token's ``jku``
        says: the operator chose those keys. Otherwise the ``jku`` set is fetched, only when it is on the
        issuer's allowlist; with no ``jku``, the configured set is refetched once for a rotated key.
        """
        kid, jku = header["kid"], header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise AuthError("jku")
        configured = key_source(trust)
        if configured is not None:
            key = self.keys.key(configured, kid, issuer=trust.issuer, rotate=jku is None)
            if key is not None:
                return _fitting(key, header["alg"]), configured
        if jku is None:
            if configured is None:
                raise AuthError("no-key-source")
            raise AuthError("unknown-kid")
        if not trust.jku_allowed(jku):
            raise AuthError("jku")
        source = KeySource("url", jku)
        key = self.keys.key(source, kid, issuer=trust.issuer)
        if key is None:
            raise AuthError("unknown-kid")
        return _fitting(key, header["alg"]), source


def _fitting(key: SigningKey, alg: str) -> SigningKey:
    if not _key_fits(key, alg):
        raise AuthError("key-algorithm")
    return key


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("malformed") from None
    alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise AuthError("algorithm")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_CLAIM_CHARS:
        raise AuthError("kid")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise AuthError("typ")
    if "crit" in header:  # no critical extensions are understood here (RFC 7515 4.1.11)
        raise AuthError("crit")
    return header


def _unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("malformed") from None
    if not isinstance(claims, dict):
        raise AuthError("malformed")
    return claims


def _check_signature(token: str, key: SigningKey, alg: str) -> None:
    try:
        jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_jti": False,
                "verify_sub": False,
                "require": [],
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        raise AuthError("signature") from None


def _key_fits(key: SigningKey, alg: str) -> bool:
    """The key's type (and curve) matches ``alg``; a JWK that names its ``alg`` must name this one."""
    if key.alg is not None and key.alg != alg:
        return False
    if alg.startswith("ES"):
        return key.kty == "EC" and key.crv == _EC_CURVES[alg]
    return key.kty == "RSA"


def _number(value: Any) -> float | None:
    """A NumericDate (seconds since the epoch) as a float, or None if ``value`` is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e13:
        return float(value)
    return None


def _loggable(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None
