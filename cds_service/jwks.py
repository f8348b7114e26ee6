"""JWK Sets of trusted issuers: loaded from a URL, a file or inline JSON, cached, and refreshed on rotation.

The cache fetches only the sources it is asked for; :mod:`cds_service.auth` asks only for a trusted issuer's
configured ``jwks_url`` or a ``jku`` on that issuer's allowlist (the SSRF guard). Fetches use short timeouts,
follow no redirects and read at most :data:`MAX_JWKS_BYTES`. A key id the cache does not know triggers one
refetch (key rotation), at most once per ``min_refresh_seconds`` per source, so a flood of tokens with
made-up ``kid`` values cannot make the service hammer an EHR's JWKS endpoint. When a refresh fails, the keys
already known stay in use.

URLs taken from a token's ``jku`` header are chosen by the caller before any signature is checked (the key
is needed to check it), so they get two more bounds: at most ``max_jku_fetches`` fetches per minute across
all of them, and at most ``max_sources`` cached sets (the oldest ``jku`` set is dropped first). The issuers'
configured sources are pinned: never dropped, and not counted against the ``jku`` budget, so a flood of
made-up ``jku`` URLs cannot push out the keys real EHRs use.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWTError

log = logging.getLogger("dn_cds.security")

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 100
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MIN_RSA_BITS = 2048


class JwksError(Exception):
    """A JWK Set could not be loaded (the message names the source, never a key)."""


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where a JWK Set comes from: ``url`` (https), ``file`` (a path) or ``inline`` (JSON text)."""

    kind: Literal["url", "file", "inline"]
    location: str

    def __str__(self) -> str:
        return "inline JWKS" if self.kind == "inline" else f"{self.kind} {self.location}"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A trusted public key: its JWK type, curve and declared ``alg`` (if any), and the key object."""

    kid: str
    kty: str
    crv: str | None
    alg: str | None
    key: Any


@dataclass(slots=True)
class _Entry:
    keys: dict[str, SigningKey]
    fetched_at: float  # last successful load
    attempted_at: float  # last load attempt, successful or not


HttpGet = Callable[..., requests.Response]


class JwksCache:
    """Thread-safe cache of JWK Sets, keyed by source.

    :param ttl_seconds: how long a loaded set is used before it is loaded again.
    :param min_refresh_seconds: the least time between two loads of one source (rotation and errors).
    :param timeout: (connect, read) seconds for a URL fetch.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = 300.0,
        min_refresh_seconds: float = 30.0,
        timeout: tuple[float, float] = (2.0, 3.0),
        clock: Callable[[], float] = time.monotonic,
        http_get: HttpGet | None = None,
        max_sources: int = 64,
        max_jku_fetches: int = 20,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.timeout = timeout
        self.max_sources = max_sources
        self.max_jku_fetches = max_jku_fetches
        self._clock = clock
        self._http_get = http_get or requests.get
        self._entries: dict[KeySource, _Entry] = {}
        self._pinned: set[KeySource] = set()
        self._jku_fetches: deque[float] = deque()
        self._locks = [threading.Lock() for _ in range(16)]  # a fixed pool: made-up URLs cannot grow it
        self._guard = threading.Lock()

    def pin(self, source: KeySource) -> None:
        """Mark ``source`` as configured: never dropped from the cache, not counted as a ``jku`` fetch."""
        with self._guard:
            self._pinned.add(source)

    def key(self, source: KeySource, kid: str) -> SigningKey | None:
        """The key with id ``kid`` from ``source``, or ``None`` if the source does not have it."""
        with self._lock(source):
            now = self._clock()
            entry = self._entries.get(source)
            if entry is None or (
                now - entry.fetched_at >= self.ttl_seconds
                and now - entry.attempted_at >= self.min_refresh_seconds
            ):
                entry = self._refresh(source, entry, now)
            if kid not in entry.keys and now - entry.attempted_at >= self.min_refresh_seconds:
                entry = self._refresh(source, entry, now)  # an unknown kid: the issuer may have rotated
            return entry.keys.get(kid)

    def preload(self, source: KeySource) -> int:
        """Load ``source`` now (start-up check of files and inline sets); the number of usable keys."""
        keys = load_jwks(source, self._http_get, self.timeout)
        self.pin(source)
        with self._lock(source):
            now = self._clock()
            self._store(source, _Entry(keys, now, now))
        return len(keys)

    def _lock(self, source: KeySource) -> threading.Lock:
        return self._locks[hash(source) % len(self._locks)]

    def _store(self, source: KeySource, entry: _Entry) -> None:
        with self._guard:
            if source not in self._entries:
                unpinned = [known for known in self._entries if known not in self._pinned]
                while unpinned and len(self._entries) >= self.max_sources:
                    del self._entries[unpinned.pop(0)]
            self._entries[source] = entry

    def _jku_budget_left(self, now: float) -> bool:
        with self._guard:
            while self._jku_fetches and now - self._jku_fetches[0] >= 60.0:
                self._jku_fetches.popleft()
            if len(self._jku_fetches) >= self.max_jku_fetches:
                return False
            self._jku_fetches.append(now)
            return True

    def _refresh(self, source: KeySource, entry: _Entry | None, now: float) -> _Entry:
        try:
            if source.kind == "url" and source not in self._pinned and not self._jku_budget_left(now):
                raise JwksError(f"not fetching {source}: over {self.max_jku_fetches} jku fetches a minute")
            keys = load_jwks(source, self._http_get, self.timeout)
        except JwksError as error:
            log.warning("jwks load failed: %s", error, extra={"event": "jwks-error", "source": str(source)})
            stale = entry.keys if entry is not None else {}
            fetched_at = entry.fetched_at if entry is not None else now - self.ttl_seconds
            refreshed = _Entry(stale, fetched_at, now)
        else:
            log.info(
                "jwks loaded: %d key(s) from %s",
                len(keys),
                source,
                extra={"event": "jwks-loaded", "source": str(source), "keys": len(keys)},
            )
            refreshed = _Entry(keys, now, now)
        self._store(source, refreshed)
        return refreshed


def load_jwks(
    source: KeySource, http_get: HttpGet = requests.get, timeout: Any = (2.0, 3.0)
) -> dict[str, SigningKey]:
    """The usable signature keys of a JWK Set, by ``kid``; :class:`JwksError` if the set is unreadable."""
    if source.kind == "inline":
        text = source.location
    elif source.kind == "file":
        try:
            text = Path(source.location).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise JwksError(f"cannot read {source}: {type(error).__name__}") from None
    else:
        text = _fetch(source.location, http_get, timeout)
    try:
        document = json.loads(text)
    except ValueError:
        raise JwksError(f"{source} is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError(f"{source} is not a JWK Set (no 'keys' array)")
    return parse_jwk_set(document["keys"][:MAX_KEYS])


def parse_jwk_set(entries: list[Any]) -> dict[str, SigningKey]:
    """Public signature keys (EC, RSA of 2048+ bits) with a ``kid``; others are skipped; first kid wins."""
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        kid, kty, use = entry.get("kid"), entry.get("kty"), entry.get("use")
        if not isinstance(kid, str) or not kid or kid in keys or kty not in {"EC", "RSA"}:
            continue
        if use is not None and use != "sig":
            continue
        public = {name: value for name, value in entry.items() if name not in _PRIVATE_MEMBERS}
        try:
            key = PyJWK(public)
        except (PyJWTError, ValueError, TypeError, KeyError):
            continue
        if kty == "RSA" and getattr(key.key, "key_size", 0) < _MIN_RSA_BITS:
            continue
        crv, alg = entry.get("crv"), entry.get("alg")
        keys[kid] = SigningKey(
            kid, kty, crv if isinstance(crv, str) else None, alg if isinstance(alg, str) else None, key.key
        )
    return keys


def _fetch(url: str, http_get: HttpGet, timeout: Any) -> str:
    try:
        response = http_get(
            url,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/jwk-set+json, application/json"},
        )
    except requests.RequestException as error:
        raise JwksError(f"cannot fetch url {url}: {type(error).__name__}") from None
    try:
        if response.status_code != 200:
            raise JwksError(f"url {url} answered HTTP {response.status_code}")
        body = bytearray()
        for chunk in response.iter_content(chunk_size=8192):
            body.extend(chunk)
            if len(body) > MAX_JWKS_BYTES:
                raise JwksError(f"url {url} sent more than {MAX_JWKS_BYTES} bytes")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise JwksError(f"url {url} is not UTF-8") from None
    except requests.RequestException as error:
        raise JwksError(f"cannot fetch url {url}: {type(error).__name__}") from None
    finally:
        response.close()
