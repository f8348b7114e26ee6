"""``GET /handouts/dry-needling``: the printable patient handout, rendered once at start-up."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from cds_service.html_pages import html_page, page_url

HANDOUT_PATH = "/handouts/dry-needling"
_EXTENSION_KEY = "dn_cds_handout"

blueprint = Blueprint("handout", __name__)


def install_handout(app_extensions: dict[str, object], page: str) -> None:
    """Keep the rendered page for the route (called by ``create_app``)."""
    app_extensions[_EXTENSION_KEY] = page


def handout_url(public_base_url: str) -> str:
    """The handout's absolute URL (see :func:`~cds_service.html_pages.page_url`)."""
    return page_url(public_base_url, HANDOUT_PATH)


@blueprint.get(HANDOUT_PATH)
def dry_needling_handout() -> Response:
    """The handout as a printable HTML page."""
    page: str = current_app.extensions[_EXTENSION_KEY]
    return html_page(page)
