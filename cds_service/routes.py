"""HTTP edge: discovery, hook calls and feedback. Thin: validation and evaluation live elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from cds_service.advice import Advisor
from cds_service.audit_trail import AuditTrail
from cds_service.catalog import ServiceCatalog
from cds_service.errors import BadRequest, UnknownService
from cds_service.feedback import parse_feedback
from cds_service.handout import handout_url
from cds_service.hook_request import parse_hook_request
from cds_service.json_body import parse_json_body
from cds_service.knowledge_page import knowledge_url
from cds_service.settings import Settings

blueprint = Blueprint("cds", __name__)
AUDIT_TRAIL = "dn_cds.audit"
_JSON_TYPES = frozenset({"application/json", "application/fhir+json"})


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What the routes need, built once by ``create_app``."""

    settings: Settings
    catalog: ServiceCatalog
    advisor: Advisor
    today: Callable[[], date]


def state() -> ServiceState:
    """The app's :class:`ServiceState`."""
    found: ServiceState = current_app.extensions["dn_cds"]
    return found


def audit_trail() -> AuditTrail:
    """The app's :class:`AuditTrail` (the store behind the audit and feedback)."""
    found: AuditTrail = current_app.extensions[AUDIT_TRAIL]
    return found


@blueprint.get("/cds-services")
def discovery() -> Response:
    """CDS Hooks discovery (D1-D3)."""
    return jsonify(state().catalog.discovery())


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    """A hook call: validate, evaluate, answer ``{"cards": [...]}``."""
    current = state()
    g.service_id = service_id
    if not current.catalog.has_id(service_id):
        raise UnknownService(f"No CDS service with id '{service_id}'.")
    with audit_trail().hook_call(service_id, g.get("started", time.perf_counter())) as audit:
        body = _json_body()
        hook_request = parse_hook_request(body)
        g.hook_instance = hook_request.hook_instance
        g.hook, g.patient_id = hook_request.hook, hook_request.patient_id  # the log keeps a pseudonym only
        audit.request = hook_request
        service = current.catalog.resolve(service_id, hook_request.hook)
        audit.service = service
        cards = current.advisor.cards(
            hook_request,
            service,
            current.today(),
            handout_url=handout_url(current.settings.public_base_url),
            source_url=knowledge_url(current.settings.public_base_url),
        )
        audit.cards = cards
    return jsonify({"cards": cards})


@blueprint.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """Feedback on cards: validated, linked to the audited cards, acknowledged only once committed."""
    g.service_id = service_id
    if not state().catalog.has_id(service_id):
        raise UnknownService(f"No CDS service with id '{service_id}'.")
    entries = parse_feedback(_json_body())
    trail = audit_trail()
    trail.store.feedback.save(service_id, entries, trail.now())
    return jsonify({"received": len(entries)})


@blueprint.get("/healthz")
def health() -> Response:
    """Liveness for load balancers and container health checks (no patient data)."""
    return jsonify({"status": "ok"})


def _json_body() -> Any:
    """The request body as strict JSON (RFC 8259) within the size limits, or a 400 saying why not."""
    mimetype = request.mimetype or ""
    if mimetype not in _JSON_TYPES and not mimetype.endswith("+json"):
        raise BadRequest(
            f"Content-Type must be application/json, got '{mimetype or 'none'}'.",
        )
    settings = state().settings
    return parse_json_body(request.get_data(cache=False), settings.max_string_chars, settings.max_array_items)
