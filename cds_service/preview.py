"""``GET /preview``: every bundled demo patient's cards on every hook, rendered as an EHR shows them, for a
CDS committee to approve exactly what clinicians will see. No patient data beyond the bundled synthetic demo
patients; no token (nothing here is a real patient's). The cards come from the same evaluation a hook call
runs, with the demo patient's prefetch, so the page cannot drift from the service.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app

from cds_service.advice import Advisor
from cds_service.card_html import HookCards, PatientCards, render_preview_html
from cds_service.catalog import ServiceCatalog, ServiceDefinition
from cds_service.demo import DemoPatient, build_hook_request, load_demo_patients
from cds_service.errors import PreconditionFailed
from cds_service.handout import handout_url
from cds_service.hook_request import HookRequest, parse_hook_request
from cds_service.html_pages import html_page
from cds_service.knowledge_page import knowledge_url
from cds_service.patient_data import FetchResult, MissingReason
from cds_service.routes import state

PREVIEW_PATH = "/preview"
PREVIEW_TITLE = "Dry-needling CDS: the cards clinicians will see"
_PREVIEW_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dn-cds:preview")

blueprint = Blueprint("preview", __name__)


class _PrefetchOnly:
    """The preview answers every prefetch key from the demo chart; it never fetches."""

    def fetch(
        self, request: HookRequest, service: ServiceDefinition, missing: Mapping[str, MissingReason]
    ) -> FetchResult:
        raise PreconditionFailed("the preview reads the demo patients' prefetch only")


def demo_patient_cards(
    advisor: Advisor,
    catalog: ServiceCatalog,
    today: date,
    *,
    handout: str | None = None,
    source: str | None = None,
) -> list[PatientCards]:
    """Each demo patient's cards on each of the catalog's hooks, as the service would answer."""
    offline = dataclasses.replace(advisor, fetcher=_PrefetchOnly())
    result = []
    for patient in load_demo_patients(today):
        hooks = tuple(
            _hook_cards(offline, patient, service, today, handout, source) for service in catalog.services
        )
        result.append(PatientCards(patient.slug, patient.title, patient.description, hooks))
    return result


def _hook_cards(
    advisor: Advisor,
    patient: DemoPatient,
    service: ServiceDefinition,
    today: date,
    handout: str | None,
    source: str | None,
) -> HookCards:
    instance = str(uuid.uuid5(_PREVIEW_NAMESPACE, f"{patient.slug}|{service.id}"))
    request = parse_hook_request(build_hook_request(patient, service, hook_instance=instance))
    cards: list[dict[str, Any]] = advisor.cards(
        request, service, today, handout_url=handout, source_url=source
    )
    return HookCards(service.hook, tuple(cards))


def preview_intro(knowledge_version: str, today: date) -> str:
    """The sentence above the cards: what the page is and what it is not."""
    return (
        f"Knowledge version {knowledge_version}, as of {today.isoformat()}. Each synthetic demo patient's "
        "chart and draft order is sent through the same rules as a real hook call (order-select, order-sign, "
        "patient-view); the cards below are exactly what the EHR receives, rendered much as an EHR or the "
        "CDS Hooks Sandbox shows them. No real patient's data is used."
    )


class _DailyPage:
    """The rendered page, kept for the day it was rendered for (demo dates shift with today)."""

    def __init__(self) -> None:
        self._page: tuple[tuple[date, str, str], str] | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        current = state()
        today = current.today()
        handout = handout_url(current.settings.public_base_url)
        source = knowledge_url(current.settings.public_base_url)
        key = (today, handout, source)  # the links are absolute: under the URL the request came in on
        with self._lock:
            if self._page is None or self._page[0] != key:
                patients = demo_patient_cards(
                    current.advisor, current.catalog, today, handout=handout, source=source
                )
                page = render_preview_html(
                    patients,
                    title=PREVIEW_TITLE,
                    intro=preview_intro(current.advisor.knowledge.version, today),
                )
                self._page = (key, page)
            return self._page[1]


_PAGE = "dn_cds_preview_page"


def install_preview(app_extensions: dict[str, object]) -> None:
    """Keep the page's cache on the app (called by ``create_app``)."""
    app_extensions[_PAGE] = _DailyPage()


@blueprint.get(PREVIEW_PATH)
def preview_page() -> Response:
    """The preview as a standalone HTML page."""
    page: _DailyPage = current_app.extensions[_PAGE]
    return html_page(page.get())
