"""``GET /handouts/dry-needling``: the printable patient handout, rendered once at start-up."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

HANDOUT_PATH = "/handouts/dry-needling"
_EXTENSION_KEY = "dn_cds_handout"
# The page is self-contained: no scripts, images, fonts or styles from anywhere else.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=3600",
}

blueprint = Blueprint("handout", __name__)


def install_handout(app_extensions: dict[str, object], page: str) -> None:
    """Keep the rendered page for the route (called by ``create_app``)."""
    app_extensions[_EXTENSION_KEY] = page


def handout_url(public_base_url: str) -> str:
    """The handout's absolute URL: under ``DN_CDS_PUBLIC_BASE_URL`` when set, else under the base URL the
    current request came in on (what the EHR could reach)."""
    base = public_base_url.rstrip("/") if public_base_url else request.url_root.rstrip("/")
    return base + HANDOUT_PATH


@blueprint.get(HANDOUT_PATH)
def dry_needling_handout() -> Response:
    """The handout as a printable HTML page."""
    page: str = current_app.extensions[_EXTENSION_KEY]
    response = Response(page, mimetype="text/html")
    response.headers.update(_SECURITY_HEADERS)
    return response
