"""JWK Sets of trusted issuers: loaded from a URL, a file or inline JSON, cached, and refreshed on rotation.

The cache fetches only the sources it is asked for; :mod:`cds_service.auth` asks only for a trusted issuer's
configured ``jwks_url`` or a ``jku`` on that issuer's allowlist (the SSRF guard). Fetches follow no
redirects, read at most :data:`MAX_JWKS_BYTES` and have connect/read timeouts **and** one total deadline
(``fetch_deadline_seconds``), enforced by a watchdog that closes the socket, so an endpoint that trickles
its answer a byte at a time cannot hold a thread past it. No lock is held while a set is fetched: other
sources, and the keys already cached for this one, stay usable; callers that need the very set being
fetched wait for that one fetch (bounded by its deadline) instead of starting another.

A key id the cache does not know triggers one refetch (key rotation), at most once per
``min_refresh_seconds`` per source. When a refresh fails, the keys already known stay in use.

URLs taken from a token's ``jku`` header are chosen by the caller before any signature is checked (the key
is needed to check it), so an unauthenticated caller can make the service fetch them. The real keys stay
usable whatever such callers send:

- the issuers' configured sources are pinned: never dropped, never counted against a budget;
- a set that has verified a token (``verified``) is *proven*: it is never dropped to make room for one that
  has not, and its refreshes are not counted against the budget;
- sets that have verified nothing share ``max_sources`` places, the oldest dropped first, and their fetches
  are counted per issuer (``max_jku_fetches`` a minute): one issuer's flood neither starves another issuer
  nor pushes out a proven set;
- a failed (or refused, over-budget) load is remembered apart from the key sets, in a bounded table of its
  own, so failures take no place from keys.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from cds_service.fhir_client import deadline_watch, watched_session

log = logging.getLogger("dn_cds.security")

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 100
MAX_REMEMBERED_FAILURES = 1024
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_MIN_RSA_BITS = 2048
DEFAULT_FETCH_DEADLINE_SECONDS = 5.0


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
    proven: bool = False  # a token has been verified with one of its keys


HttpGet = Callable[..., requests.Response]


class JwksCache:
    """Thread-safe cache of JWK Sets, keyed by source.

    :param ttl_seconds: how long a loaded set is used before it is loaded again.
    :param min_refresh_seconds: the least time between two loads of one source (rotation and errors).
    :param timeout: (connect, read) seconds for each network operation of a URL fetch.
    :param fetch_deadline_seconds: the most one URL fetch may take in all (connect, headers and body).
    :param max_sources: places for sets that have not verified a token yet (``jku`` sets).
    :param max_jku_fetches: fetches a minute, per issuer, of sets that are neither pinned nor proven.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = 300.0,
        min_refresh_seconds: float = 30.0,
        timeout: tuple[float, float] = (2.0, 3.0),
        fetch_deadline_seconds: float = DEFAULT_FETCH_DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        http_get: HttpGet | None = None,
        max_sources: int = 64,
        max_jku_fetches: int = 20,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.timeout = timeout
        self.fetch_deadline_seconds = fetch_deadline_seconds
        self.max_sources = max_sources
        self.max_jku_fetches = max_jku_fetches
        self._clock = clock
        self._http_get = http_get
        self._entries: dict[KeySource, _Entry] = {}
        self._pinned: set[KeySource] = set()
        self._failures: OrderedDict[KeySource, float] = OrderedDict()  # source -> when its load failed
        self._fetches: dict[str, deque[float]] = {}  # issuer -> times of its unproven fetches
        self._loading: dict[KeySource, threading.Event] = {}
        self._guard = threading.Lock()  # held for bookkeeping only, never across I/O

    def pin(self, source: KeySource) -> None:
        """Mark ``source`` as configured: never dropped from the cache, not counted against a budget."""
        with self._guard:
            self._pinned.add(source)

    def key(self, source: KeySource, kid: str, *, issuer: str = "", rotate: bool = True) -> SigningKey | None:
        """The key with id ``kid`` from ``source``, or ``None`` if the source does not have it.

        ``rotate=False`` uses what the cache has (loading the set only when it has none, or it is past its
        TTL) and never refetches for an unknown ``kid``. ``issuer`` is whose budget a fetch is counted in.
        """
        with self._guard:
            now = self._clock()
            entry = self._entries.get(source)
            if not self._wants_load(source, entry, kid, rotate, now):
                return entry.keys.get(kid) if entry is not None else None
            loading = self._loading.get(source)
            if loading is None:
                if not self._may_fetch(source, entry, issuer, now):
                    return entry.keys.get(kid) if entry is not None else None
                loading = self._loading[source] = threading.Event()
                leader = True
            else:
                leader = False
        if not leader:  # another thread is loading this very set: wait for it, not for a lock
            loading.wait(self.fetch_deadline_seconds + 1.0)
            with self._guard:
                entry = self._entries.get(source)
                return entry.keys.get(kid) if entry is not None else None
        keys: dict[str, SigningKey] | None = None
        try:
            keys = self._load(source)
        finally:
            with self._guard:
                entry = self._remember(source, keys, self._clock())
                del self._loading[source]
                loading.set()
        return entry.keys.get(kid) if entry is not None else None

    def verified(self, source: KeySource) -> None:
        """A token's signature verified with a key of ``source``: keep that set over unproven ones."""
        with self._guard:
            entry = self._entries.get(source)
            if entry is None or entry.proven:
                return
            entry.proven = True
            proven = [known for known, held in self._entries.items() if held.proven and known != source]
            while proven and len(proven) >= self.max_sources:  # a proven set only ever makes room for another
                del self._entries[proven.pop(0)]

    def preload(self, source: KeySource) -> int:
        """Load ``source`` now (start-up check of files and inline sets); the number of usable keys."""
        keys = load_jwks(source, self._http_get, self.timeout, self.fetch_deadline_seconds)
        with self._guard:
            self._pinned.add(source)
            now = self._clock()
            self._entries[source] = _Entry(keys, now, now)
        return len(keys)

    def _wants_load(
        self, source: KeySource, entry: _Entry | None, kid: str, rotate: bool, now: float
    ) -> bool:
        if entry is None:
            failed_at = self._failures.get(source)
            return failed_at is None or now - failed_at >= self.min_refresh_seconds
        if now - entry.attempted_at < self.min_refresh_seconds:
            return False
        return now - entry.fetched_at >= self.ttl_seconds or (rotate and kid not in entry.keys)

    def _may_fetch(self, source: KeySource, entry: _Entry | None, issuer: str, now: float) -> bool:
        """Pinned and proven sets are always (re)loaded; others only within the issuer's budget."""
        if source.kind != "url" or source in self._pinned or (entry is not None and entry.proven):
            return True
        fetches = self._fetches.setdefault(issuer, deque())
        while fetches and now - fetches[0] >= 60.0:
            fetches.popleft()
        if len(fetches) >= self.max_jku_fetches:
            log.warning(
                "jwks not fetched: %s is over %d jku fetches a minute for its issuer",
                source,
                self.max_jku_fetches,
                extra={"event": "jwks-budget", "source": str(source), "iss": issuer},
            )
            return False
        fetches.append(now)
        return True

    def _load(self, source: KeySource) -> dict[str, SigningKey] | None:
        """The set's keys, or ``None`` (logged) when it cannot be loaded. Runs without the lock."""
        try:
            keys = load_jwks(source, self._http_get, self.timeout, self.fetch_deadline_seconds)
        except JwksError as error:
            log.warning("jwks load failed: %s", error, extra={"event": "jwks-error", "source": str(source)})
            return None
        log.info(
            "jwks loaded: %d key(s) from %s",
            len(keys),
            source,
            extra={"event": "jwks-loaded", "source": str(source), "keys": len(keys)},
        )
        return keys

    def _remember(self, source: KeySource, keys: dict[str, SigningKey] | None, now: float) -> _Entry | None:
        """Record a load's outcome (under the lock): keys in the key table, a failure in its own."""
        entry = self._entries.get(source)
        if keys is None:
            if entry is not None:  # the keys already known stay in use
                entry.attempted_at = now
                return entry
            self._failures[source] = now
            self._failures.move_to_end(source)
            while len(self._failures) > MAX_REMEMBERED_FAILURES:
                self._failures.popitem(last=False)
            return None
        self._failures.pop(source, None)
        if entry is not None:
            entry.keys, entry.fetched_at, entry.attempted_at = keys, now, now
            return entry
        unproven = [
            known for known, held in self._entries.items() if known not in self._pinned and not held.proven
        ]
        while unproven and len(unproven) >= self.max_sources:
            del self._entries[unproven.pop(0)]  # the oldest set that never verified a token
        entry = self._entries[source] = _Entry(keys, now, now)
        return entry


def load_jwks(
    source: KeySource,
    http_get: HttpGet | None = None,
    timeout: Any = (2.0, 3.0),
    deadline_seconds: float = DEFAULT_FETCH_DEADLINE_SECONDS,
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
        text = _fetch(source.location, http_get, timeout, deadline_seconds)
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


def _fetch(url: str, http_get: HttpGet | None, timeout: Any, deadline_seconds: float) -> str:
    """The body at ``url``, read within ``deadline_seconds`` in all (a watchdog closes the socket then)."""
    session = watched_session() if http_get is None else None
    get = session.get if session is not None else http_get
    assert get is not None  # noqa: S101 - one of the two is set
    try:
        with deadline_watch(time.monotonic() + deadline_seconds) as watch:
            try:
                body = _get_body(url, get, timeout)
            except JwksError:
                if watch.fired:
                    raise JwksError(f"url {url} took longer than {deadline_seconds:g} s") from None
                raise
            if watch.fired:  # a body cut short at the deadline may look complete: never use it
                raise JwksError(f"url {url} took longer than {deadline_seconds:g} s")
    finally:
        if session is not None:
            session.close()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise JwksError(f"url {url} is not UTF-8") from None


def _get_body(url: str, get: HttpGet, timeout: Any) -> bytes:
    try:
        response = get(
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
        return bytes(body)
    except (requests.RequestException, OSError) as error:
        raise JwksError(f"cannot fetch url {url}: {type(error).__name__}") from None
    finally:
        response.close()
