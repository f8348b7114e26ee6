"""A small FHIR R4 JSON client for the EHR's ``fhirServer``: one pooled session per process, typed errors.

Safety (cds-hooks-conformance.md S10, S12):

- the bearer token is attached per request (never stored on the session, never in a URL, never logged, never
  part of an error message); cookies are refused so nothing from the server is kept between calls;
- redirects are followed by hand, and only within the origin that was asked (another origin -> refused);
- every request has connect and read timeouts, both cut to what is left of the caller's deadline.

Error messages are short fixed phrases: no URL (it names the patient), no server text, no token.
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase

FHIR_JSON = "application/fhir+json"
MAX_REDIRECTS = 3


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


class FhirClient:
    """GETs FHIR JSON with a bearer token. Thread-safe: one pooled session per process (made after a fork)."""

    def __init__(self, connect_timeout: float = 1.0, read_timeout: float = 2.0, pool_size: int = 16) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._pid = 0

    def session(self) -> requests.Session:
        """This process's session (gunicorn forks after loading the app: never share a pool across a fork)."""
        with self._lock:
            if self._session is None or self._pid != os.getpid():
                session = requests.Session()
                session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                adapter = requests.adapters.HTTPAdapter(
                    pool_connections=self.pool_size, pool_maxsize=self.pool_size, max_retries=0
                )
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                session.headers.update({"Accept": FHIR_JSON, "User-Agent": "dn-cds"})
                self._session, self._pid = session, os.getpid()
            return self._session

    def get_json(self, url: str, token: str | None, deadline: float) -> Mapping[str, Any]:
        """The JSON object at ``url``; raises a :class:`FhirError` subclass. ``deadline`` is a
        ``time.monotonic()`` instant after which no request is started or waited for."""
        auth = _Bearer(token)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._get(url, auth, deadline)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                target = urljoin(url, location)
                response.close()
                if not location or origin(target) != origin(url):
                    raise FhirRedirectRefused()
                url = target
                continue
            return _json_object(response)
        raise FhirRedirectRefused("the FHIR server redirected too many times")

    def _get(self, url: str, auth: _Bearer, deadline: float) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FhirTimeout()
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        try:
            return self.session().get(url, auth=auth, timeout=timeout, allow_redirects=False)
        except requests.Timeout:
            raise FhirTimeout() from None
        except requests.ConnectionError:
            raise FhirUnreachable() from None
        except requests.RequestException:
            raise FhirUnreachable("the FHIR request could not be sent") from None


def _json_object(response: requests.Response) -> Mapping[str, Any]:
    status = response.status_code
    if status in _STATUS_ERRORS:
        raise _STATUS_ERRORS[status]()
    if status >= 500:
        raise FhirServerError(f"the FHIR server had an error (HTTP {status})")
    if not 200 <= status < 300:
        raise FhirUnexpectedStatus(f"the FHIR server gave an unexpected HTTP status ({status})")
    try:
        body = response.json()
    except (ValueError, RecursionError):
        raise FhirBadResponse() from None
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise FhirBadResponse()
    return body
