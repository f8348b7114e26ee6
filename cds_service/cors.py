"""CORS for browser-based CDS clients (CDS Hooks security section; OWASP HTML5 cheat sheet).

Only origins listed in ``DN_CDS_CORS_ORIGINS`` get CORS headers, each echoed back exactly (with
``Vary: Origin``); ``*`` allows any origin. ``Access-Control-Allow-Credentials`` is never sent: CDS clients
authenticate with the JWT in the ``Authorization`` header, not with cookies, so a ``*`` can never combine
with credentials. A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
answered here, without a token, because browsers never send one on a preflight.

Written here rather than taken from flask-cors: the policy is a few lines, and owning it keeps its behaviour
exact and tested (no regex origin matching, no credentials option to switch on by mistake).
"""

from __future__ import annotations

from collections.abc import Iterable

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
MAX_AGE_SECONDS = "600"
_PREFLIGHT_METHODS = frozenset({"GET", "POST"})


class CorsPolicy:
    """Which origins may call, and the headers that say so."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origin.lower() for origin in origins)
        self.any_origin = "*" in self.origins

    def allow_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or ``None`` when it is not allowed."""
        if not origin:
            return None
        if self.any_origin:
            return "*"
        return origin if origin.lower() in self.origins else None

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an actual (non-preflight) response."""
        allowed = self.allow_origin(origin)
        headers = {"Vary": "Origin"} if self.origins else {}
        if allowed is not None:
            headers["Access-Control-Allow-Origin"] = allowed
        return headers

    def preflight_headers(self, origin: str | None, requested_method: str | None) -> dict[str, str]:
        """Headers for a preflight answer; only ``Vary`` when the origin or method is not allowed."""
        headers = self.response_headers(origin)
        if (
            "Access-Control-Allow-Origin" not in headers
            or (requested_method or "").upper() not in _PREFLIGHT_METHODS
        ):
            headers.pop("Access-Control-Allow-Origin", None)
            return headers
        headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = MAX_AGE_SECONDS
        return headers
