"""HTTP edge: discovery, hook calls and feedback. Thin: validation and evaluation live elsewhere."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from cds_service.advice import Advisor
from cds_service.audit_trail import AuditTrail
from cds_service.catalog import ServiceCatalog
from cds_service.errors import BadRequest, UnknownService
from cds_service.feedback import FeedbackEntry, parse_feedback
from cds_service.handout import handout_url
from cds_service.hook_request import parse_hook_request
from cds_service.json_body import read_body
from cds_service.knowledge_page import knowledge_url
from cds_service.metrics import service_metrics
from cds_service.readiness import StoreProbe
from cds_service.settings import Settings

blueprint = Blueprint("cds", __name__)
AUDIT_TRAIL = "dn_cds.audit"
READINESS = "dn_cds.readiness"
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
            uuid_seed=card_uuid_seed(hook_request.hook_instance),
        )
        audit.cards = cards
        # The parsed body (tens of thousands of objects) is not needed past this point: let it go before
        # the audit write waits for its commit, so the calls evaluated meanwhile find it freed (fewer
        # bodies alive at once, fewer cache misses under load).
        del body, hook_request
    return jsonify({"cards": cards})


def card_uuid_seed(hook_instance: str) -> str:
    """The secret part of this call's card uuids: a keyed hash (the store's pseudonym key) of the caller
    (issuer, tenant) and the hookInstance. A retried call gets the same uuids; another caller reusing the
    hookInstance, or anyone without the key, cannot predict them."""
    caller = json.dumps(["card-uuid", g.get("token_issuer"), g.get("tenant"), hook_instance])
    return audit_trail().store.pseudonymizer.pseudonym(caller)


@blueprint.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """Feedback on cards: validated, linked to the audited cards, acknowledged only once committed."""
    g.service_id = service_id
    if not state().catalog.has_id(service_id):
        raise UnknownService(f"No CDS service with id '{service_id}'.")
    entries = parse_feedback(_json_body())
    trail = audit_trail()
    new = trail.store.feedback.save(
        service_id, entries, trail.now(), issuer=g.get("token_issuer"), tenant=g.get("tenant")
    )
    count_feedback(entries, new)
    return jsonify({"received": len(entries)})


@blueprint.get("/healthz")
def health() -> Response:
    """Liveness for load balancers and container health checks (no patient data)."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readiness() -> tuple[Response, int]:
    """Readiness: 200 when the knowledge is loaded (it is, once the app exists) and the store answers a
    trivial query within ``DN_CDS_READINESS_TIMEOUT_SECONDS``; else 503 with the cause as a fixed word."""
    probe: StoreProbe = current_app.extensions[READINESS]
    outcome = probe.check()
    body = {"status": "ready" if outcome.ready else "not-ready", "knowledge": "loaded"}
    if outcome.ready:
        return jsonify(body), 200
    service_metrics().readiness_failures.labels(cause=outcome.cause or "unknown").inc()
    response = jsonify({**body, "store": outcome.cause})
    response.headers["Cache-Control"] = "no-store"
    return response, 503


def count_feedback(entries: list[FeedbackEntry], new: int) -> None:
    """Count acknowledged feedback entries by card outcome (``accepted`` or ``overridden``, already checked),
    and how many of the body's entries were resubmissions of stored ones."""
    metrics = service_metrics()
    for entry in entries:
        metrics.feedback_entries.labels(outcome=entry.outcome).inc()
    metrics.feedback_resubmitted.inc(len(entries) - new)


def _body_text(raw: bytes) -> str:
    """The body as text: UTF-8 only (RFC 8259 8.1), a leading UTF-8 byte order mark ignored; UTF-16 and
    UTF-32 (which Python's json would guess) are refused. A streamed (chunked) body longer than
    ``DN_CDS_MAX_BODY_BYTES`` is a 413, never silently cut at the limit."""
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):  # more than the limit was sent
            raise RequestEntityTooLarge()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or raw[:4].count(0) >= 1:
        raise BadRequest(
            "The request body must be UTF-8 JSON (RFC 8259); UTF-16 and UTF-32 are not accepted."
        )
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.") from None


def _json_body() -> Any:
    """The request body as strict JSON (RFC 8259) within the size limits, or a 400 saying why not."""
    mimetype = request.mimetype or ""
    if mimetype not in _JSON_TYPES and not mimetype.endswith("+json"):
        raise BadRequest(
            f"Content-Type must be application/json, got '{mimetype or 'none'}'.",
        )
    text = _body_text(request.get_data(cache=False))
    settings = state().settings
    # orjson when it can vouch for the result, else the strict reader; then one walk over the containers
    # (depth, and the string lengths and member counts the raw text cannot rule out), and the text check
    # (only when the raw text holds an escape that could decode to a NUL or a lone surrogate).
    return read_body(text, settings.max_string_chars, settings.max_array_items)
