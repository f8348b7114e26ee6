"""A small FHIR R4 JSON client for the EHR's ``fhirServer``: one pooled session per process, typed errors.

Safety (cds-hooks-conformance.md S10, S12):

- the bearer token is attached per request (never stored on the session, never in a URL, never logged, never
  part of an error message); cookies are refused so nothing from the server is kept between calls;
- redirects are followed by hand, and only within the origin that was asked (another origin -> refused);
- every request has connect and read timeouts, both cut to what is left of the caller's deadline, and the
  deadline also bounds the whole exchange: a watchdog shuts the connection's socket when it passes, so a
  server that trickles its headers or body a byte at a time cannot hold a worker thread past it;
- the body is streamed and reading stops past ``max_response_bytes`` (decoded bytes, so a compressed "bomb"
  is stopped too): a typed error, never a truncated answer.

Error messages are short fixed phrases: no URL (it names the patient), no server text, no token.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.auth import AuthBase

FHIR_JSON = "application/fhir+json"
MAX_REDIRECTS = 3
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


class FhirError(Exception):
    """A FHIR read failed; ``reason`` is a short phrase safe to show on a card and to log."""

    default_reason: ClassVar[str] = "the FHIR query failed"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)


class FhirUnauthorized(FhirError):
    default_reason = "the FHIR server refused the access token (HTTP 401)"


class FhirForbidden(FhirError):
    default_reason = "the access token does not allow this query (HTTP 403)"


class FhirNotFound(FhirError):
    default_reason = "the FHIR server has no such endpoint or resource (HTTP 404)"


class FhirGone(FhirError):
    default_reason = "the FHIR server says the data is gone (HTTP 410)"


class FhirRateLimited(FhirError):
    default_reason = "the FHIR server is rate limiting (HTTP 429)"


class FhirServerError(FhirError):
    default_reason = "the FHIR server had an error (HTTP 5xx)"


class FhirUnexpectedStatus(FhirError):
    default_reason = "the FHIR server gave an unexpected HTTP status"


class FhirTimeout(FhirError):
    default_reason = "the FHIR server did not answer within the time budget"


class FhirUnreachable(FhirError):
    default_reason = "the FHIR server could not be reached"


class FhirRedirectRefused(FhirError):
    default_reason = "the FHIR server redirected to another origin (refused)"


class FhirOriginRefused(FhirError):
    default_reason = "the FHIR server's next-page link leaves its origin (refused)"


class FhirBadResponse(FhirError):
    default_reason = "the FHIR server's answer is not FHIR JSON"


class FhirQueryFailed(FhirError):
    default_reason = "the FHIR server answered with an error OperationOutcome"


class FhirTooManyPages(FhirError):
    default_reason = "the FHIR search has more pages than this service reads"


class FhirResponseTooLarge(FhirError):
    default_reason = "the FHIR server's answer is larger than this service reads"


_STATUS_ERRORS: dict[int, type[FhirError]] = {
    401: FhirUnauthorized,
    403: FhirForbidden,
    404: FhirNotFound,
    410: FhirGone,
    429: FhirRateLimited,
}


class _Bearer(AuthBase):
    """The access token as an ``Authorization`` header. As an auth object it also keeps requests from
    reading ``~/.netrc`` credentials for the host."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        else:
            request.headers.pop("Authorization", None)
        return request

    def __repr__(self) -> str:
        return "_Bearer(<redacted>)"


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class _Watch:
    """The deadline of one GET: when it passes, the socket of the connection in use is shut down, so that a
    read blocked on it (status line, headers or body, however slowly the server trickles) returns at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: urllib3.connection.HTTPConnection | None = None
        self._socket: socket.socket | None = None
        self._done = False
        self.fired = False

    def attach(self, connection: urllib3.connection.HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            self._socket = getattr(connection, "sock", None) or self._socket
            if self.fired:
                self._shut()

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._shut()

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._connection = None
            self._socket = None

    def _shut(self) -> None:
        """Shut the connection's socket; or the one it had, which a response that closes the connection
        (HTTP/1.0, ``Connection: close``) reads after the connection has let go of it."""
        sock = getattr(self._connection, "sock", None) or self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()  # the _Watch of the GET running on this thread, if any


def _watched(connection: urllib3.connection.HTTPConnection) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(connection)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which addresses a ``fhirServer`` connection may reach. Public (global) addresses always; a private,
    link-local, loopback or otherwise non-global one only when it is explicitly listed: in ``networks``
    (``DN_CDS_FHIR_PRIVATE_NETWORKS``), or written as that very address (or ``localhost`` for loopback) in
    the URL, which the allowlist had to name. Checked on the connected socket's peer address, so a name that
    resolves (or is rebound) to an internal address is caught whatever DNS said before."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def allows(self, host: str, peer: str) -> bool:
        """True when a connection for URL host ``host`` may stay connected to address ``peer``."""
        address = ipaddress.ip_address(peer.split("%", 1)[0])
        if address.is_global:
            return True
        if any(address in network for network in self.networks):
            return True
        literal = host.strip("[]").lower()
        if address.is_loopback and literal == "localhost":
            return True
        try:
            return ipaddress.ip_address(literal) == address
        except ValueError:
            return False


class FhirAddressRefused(FhirError):
    default_reason = "the FHIR server's address is private or link-local and not allowed (refused)"


def _check_peer(connection: urllib3.connection.HTTPConnection) -> None:
    """Close a fresh connection whose peer the GET's :class:`AddressPolicy` does not allow."""
    policy: AddressPolicy | None = getattr(_current, "policy", None)
    sock = getattr(connection, "sock", None)
    if policy is None or sock is None:
        return
    try:
        peer = str(sock.getpeername()[0])
    except (OSError, IndexError):
        return
    if not policy.allows(str(connection.host), peer):
        _current.refused = True
        sock.close()
        raise ConnectionRefusedError("address not allowed")


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)
        _watched(self)  # now connected: remember the socket itself


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)
        _watched(self)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """Pooled connections that the GET's :class:`_Watch` can cut at its deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.ProxyManager:
        manager: urllib3.ProxyManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # an http(s) proxy (a SOCKS one keeps its own pools)
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


_WATCHED_POOLS: dict[str, type[urllib3.HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


@contextlib.contextmanager
def _deadline_watch(deadline: float) -> Iterator[_Watch]:
    """Arm a watchdog for this thread's GET until ``deadline`` (``time.monotonic()``)."""
    watch = _Watch()
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), watch.fire)
    timer.daemon = True
    _current.watch = watch
    timer.start()
    try:
        yield watch
    finally:
        watch.finish()
        timer.cancel()
        _current.watch = None


deadline_watch = _deadline_watch  # public: the JWKS fetch (cds_service.jwks) uses the same watchdog


def watched_session() -> requests.Session:
    """A session whose connections a :func:`deadline_watch` can cut (no cookies, no retries)."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = _WatchedAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class ByteBudget:
    """Decoded bytes one hook call may still read from ``fhirServer``, shared by its concurrent reads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._left = limit
        self._lock = threading.Lock()

    def take(self, count: int) -> bool:
        """Spend ``count`` bytes; False (and nothing spent) once the budget would be exceeded."""
        with self._lock:
            if count > self._left:
                self._left = 0
                return False
            self._left -= count
            return True


class FhirClient:
    """GETs FHIR JSON with a bearer token. Thread-safe: one pooled session per process (made after a fork)."""

    def __init__(
        self,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        pool_size: int = 16,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        self.address_policy = address_policy or AddressPolicy()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self.max_response_bytes = max_response_bytes
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._pid = 0

    def session(self) -> requests.Session:
        """This process's session (gunicorn forks after loading the app: never share a pool across a fork)."""
        with self._lock:
            if self._session is None or self._pid != os.getpid():
                session = requests.Session()
                session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                adapter = _WatchedAdapter(
                    pool_connections=self.pool_size, pool_maxsize=self.pool_size, max_retries=0
                )
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                session.headers.update({"Accept": FHIR_JSON, "User-Agent": "dn-cds"})
                self._session, self._pid = session, os.getpid()
            return self._session

    def get_json(
        self,
        url: str,
        token: str | None,
        deadline: float,
        allowed: Callable[[str], bool] | None = None,
        budget: ByteBudget | None = None,
    ) -> Mapping[str, Any]:
        """The JSON object at ``url``; raises a :class:`FhirError` subclass. ``deadline`` is a
        ``time.monotonic()`` instant after which no request is started or waited for; a redirect is
        followed only on the same origin and, when ``allowed`` is given, to a URL it allows. ``budget``
        (shared by the reads of one hook call) bounds the decoded bytes of all their answers together."""
        auth = _Bearer(token)
        for _ in range(MAX_REDIRECTS + 1):
            with _deadline_watch(deadline) as watch:
                try:
                    target = self._exchange(url, auth, deadline, allowed, budget)
                except Exception:
                    if watch.fired:  # the watchdog cut the connection: that is the time budget
                        raise FhirTimeout() from None
                    raise
                if watch.fired:  # a body cut short at the deadline may look complete: never use it
                    raise FhirTimeout()
            if isinstance(target, str):
                url = target
                continue
            return target
        raise FhirRedirectRefused("the FHIR server redirected too many times")

    def _exchange(
        self,
        url: str,
        auth: _Bearer,
        deadline: float,
        allowed: Callable[[str], bool] | None,
        budget: ByteBudget | None = None,
    ) -> Mapping[str, Any] | str:
        """One GET: the JSON object, or the same-origin URL it redirects to."""
        response = self._get(url, auth, deadline)
        with response:  # closes (never pools) a connection whose body was not read to the end
            if response.is_redirect:
                location = response.headers.get("Location", "")
                target = urljoin(url, location)
                if not location or origin(target) != origin(url):
                    raise FhirRedirectRefused()
                if allowed is not None and not allowed(target):
                    raise FhirRedirectRefused("the FHIR server redirected outside its allowed base (refused)")
                return target
            _check_status(response.status_code)
            return _json_object(self._read_body(response, deadline, budget))

    def _get(self, url: str, auth: _Bearer, deadline: float) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FhirTimeout()
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        _current.policy, _current.refused = self.address_policy, False
        try:
            return self.session().get(url, auth=auth, timeout=timeout, allow_redirects=False, stream=True)
        except requests.Timeout:
            raise FhirTimeout() from None
        except requests.ConnectionError:
            if getattr(_current, "refused", False):
                raise FhirAddressRefused() from None
            raise FhirUnreachable() from None
        except requests.RequestException:
            raise FhirUnreachable("the FHIR request could not be sent") from None
        finally:
            _current.policy = None

    def _read_body(
        self, response: requests.Response, deadline: float, budget: ByteBudget | None = None
    ) -> bytes:
        """The (decoded) body, read in chunks; stops past ``max_response_bytes`` or at the deadline."""
        limit = self.max_response_bytes
        too_large = FhirResponseTooLarge(
            f"the FHIR server's answer is larger than {_size(limit)}, more than this service reads"
        )
        declared = response.headers.get("Content-Length", "")
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in {"", "identity"}
        if declared.strip().isdigit() and int(declared) > limit and not encoded:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() >= deadline:
                    raise FhirTimeout()
                chunk = response.raw.read1(READ_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise too_large
                if budget is not None and not budget.take(len(chunk)):
                    raise FhirResponseTooLarge(
                        f"the FHIR answers to this call are larger than {_size(budget.limit)} in all, more"
                        " than this service reads"
                    )
                chunks.append(chunk)
        except FhirError:
            raise
        except urllib3.exceptions.DecodeError:  # a Content-Encoding it does not decode
            raise FhirBadResponse() from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            if isinstance(error, TimeoutError | socket.timeout | urllib3.exceptions.TimeoutError):
                raise FhirTimeout() from None
            raise FhirUnreachable("the FHIR server's answer broke off") from None
        return b"".join(chunks)


def _check_status(status: int) -> None:
    if status in _STATUS_ERRORS:
        raise _STATUS_ERRORS[status]()
    if status >= 500:
        raise FhirServerError(f"the FHIR server had an error (HTTP {status})")
    if not 200 <= status < 300:
        raise FhirUnexpectedStatus(f"the FHIR server gave an unexpected HTTP status ({status})")


def _json_object(content: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        raise FhirBadResponse() from None
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise FhirBadResponse()
    return body


def _size(count: int) -> str:
    """A byte count for people: ``10 MB``, ``512 KB``, ``900 bytes``."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= scale:
            return f"{round(count / scale, 1):g} {unit}"
    return f"{count} bytes"
