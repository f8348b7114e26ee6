"""``GET /knowledge``: the rule base as an HTML page, what every card's ``source.url`` points to.

CDS Hooks 2.0: ``source.url`` is an absolute URL "to learn more about the organization or data set that
provided the information on this card". Here that is the rule base the service runs (``dn-cds knowledge
--format html``: every finding's rule, codes, thresholds and sources, with the site's policy file when one is
set); each card links to its finding's section (``#finding-<code>``). Rendered on first use, then kept; no
token, no patient data.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Blueprint, Response, current_app

from cds_service.html_pages import html_page, page_url
from cds_service.knowledge_report import build_report, gather_sources, render

KNOWLEDGE_PATH = "/knowledge"
_EXTENSION_KEY = "dn_cds_knowledge_page"

blueprint = Blueprint("knowledge_page", __name__)


class _LazyPage:
    """The page, rendered once per app on first request (not at start-up: it takes a second)."""

    def __init__(self, policy_file: Path | None) -> None:
        self._policy_file = policy_file
        self._page: str | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._page is None:
                sources = gather_sources(policy_file=self._policy_file)
                self._page = render(build_report(sources), "html")
            return self._page


def install_knowledge_page(app_extensions: dict[str, object], policy_file: Path | None) -> None:
    """Remember how to render the page (called by ``create_app``)."""
    app_extensions[_EXTENSION_KEY] = _LazyPage(policy_file)


def knowledge_url(public_base_url: str) -> str:
    """The page's absolute URL (see :func:`~cds_service.html_pages.page_url`)."""
    return page_url(public_base_url, KNOWLEDGE_PATH)


@blueprint.get(KNOWLEDGE_PATH)
def knowledge_page() -> Response:
    """The rule base as a standalone HTML page."""
    page: _LazyPage = current_app.extensions[_EXTENSION_KEY]
    return html_page(page.get())
