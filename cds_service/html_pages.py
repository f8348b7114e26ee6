"""What the service's static HTML pages (the patient handout, the rule base) share: their response headers and
how their absolute URL is made."""

from __future__ import annotations

from flask import Response, request

# The pages are self-contained: no scripts, images, fonts or styles from anywhere else.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=3600",
}


def html_page(page: str) -> Response:
    """``page`` as an HTML response with the pages' security and cache headers."""
    response = Response(page, mimetype="text/html")
    response.headers.update(_HEADERS)
    return response


def page_url(public_base_url: str, path: str) -> str:
    """``path``'s absolute URL: under ``DN_CDS_PUBLIC_BASE_URL`` when set, else under the base URL the
    current request came in on (what the EHR could reach)."""
    base = public_base_url.rstrip("/") if public_base_url else request.url_root.rstrip("/")
    return base + path
