"""The Flask application factory."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from cards import load_card_wording
from cards.handout import load_handout, render_handout_html
from cds_service.advice import Advisor
from cds_service.audit_trail import AuditedFetcher, AuditTrail, KnownLabels
from cds_service.auth import TokenReplayGuard
from cds_service.catalog import load_catalog, with_status_filters
from cds_service.errors import CdsServiceError, operation_outcome
from cds_service.fhir_fetcher import FhirFetcher
from cds_service.handout import blueprint as handout_blueprint
from cds_service.handout import install_handout
from cds_service.incomplete_data import load_key_coverage
from cds_service.knowledge_page import blueprint as knowledge_page_blueprint
from cds_service.knowledge_page import install_knowledge_page
from cds_service.metrics import service_metrics
from cds_service.openapi import blueprint as openapi_blueprint
from cds_service.patient_data import PatientDataFetcher
from cds_service.preview import blueprint as preview_blueprint
from cds_service.preview import install_preview
from cds_service.readiness import StoreProbe
from cds_service.routes import AUDIT_TRAIL, READINESS, ServiceState, blueprint
from cds_service.security import build_verifier, install_security
from cds_service.settings import Settings
from cds_service.store import Pseudonymizer, Store, open_store
from fhir_mappings import load_knowledge

access_log = logging.getLogger("dn_cds.access")
error_log = logging.getLogger("dn_cds.error")
_HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly"}


def utc_now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return datetime.now(UTC)


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar date of ``moment`` (an aware datetime) in ``zone``."""
    return moment.astimezone(zone).date()


def zone_clock(zone: tzinfo, now: Callable[[], datetime] = utc_now) -> Callable[[], date]:
    """A clock giving today's date in ``zone``, reading the instant from ``now``."""

    def today() -> date:
        return local_date(now(), zone)

    return today


def create_app(
    settings: Settings | None = None,
    *,
    fetcher: PatientDataFetcher | None = None,
    today: Callable[[], date] | None = None,
    now: Callable[[], datetime] = utc_now,
    replay_guard: TokenReplayGuard | None = None,
    store: Store | None = None,
) -> Flask:
    """Build the app: knowledge and wording are loaded and checked here, once (fail fast).

    "Today" for the date rules is ``today()`` when given, else the date of ``now()`` in the time zone of
    ``settings.timezone`` (``DN_CDS_TIMEZONE``). ``store`` (audit, feedback, token replay) defaults to the one
    the settings name, opened and migrated here. ``replay_guard`` remembers token ids (``jti``); the default
    is the store's table, shared by every worker and instance on that database.
    """
    settings = settings or Settings.from_env()
    store = store or open_store(settings)
    today = today or zone_clock(settings.zone, now)
    knowledge = load_knowledge(policy_file=settings.policy_file)
    wording = load_card_wording(knowledge.findings, policy=knowledge.policy)
    handout = load_handout()
    base_catalog = load_catalog()
    coverage = load_key_coverage(key for service in base_catalog.services for key in service.prefetch)
    advisor = Advisor(
        knowledge,
        wording,
        AuditedFetcher(fetcher or FhirFetcher(settings)),
        settings.local_order_codes,
        coverage,
        handout_label=handout.link_label,
        max_resources_per_key=settings.max_resources_per_key,
    )
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # CDS Hooks 3.0 D9: keep key order
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    catalog = with_status_filters(
        base_catalog,
        {
            "medicationRequests": knowledge.policy.medication_request_active_statuses
            | knowledge.policy.medication_current_while_period_runs_statuses,
            "medicationStatements": knowledge.policy.medication_statement_active_statuses
            | knowledge.policy.medication_current_while_period_runs_statuses,
        },
    )
    app.extensions["dn_cds"] = ServiceState(settings, catalog, advisor, today)
    known = KnownLabels(
        services=frozenset(service.id for service in base_catalog.services),
        hooks=frozenset(service.hook for service in base_catalog.services),
        findings=frozenset(knowledge.findings),
    )
    app.extensions[AUDIT_TRAIL] = AuditTrail(store, knowledge.version, now, known)
    app.extensions[READINESS] = StoreProbe(store.engine, settings.readiness_timeout_seconds)
    service_metrics()  # registered now, before any request (under gunicorn: in the master, before forking)
    app.register_blueprint(blueprint)
    install_handout(app.extensions, render_handout_html(handout, settings.handout_contact))
    app.register_blueprint(handout_blueprint)
    app.register_blueprint(openapi_blueprint)
    install_knowledge_page(app.extensions, settings.policy_file)
    app.register_blueprint(knowledge_page_blueprint)
    install_preview(app.extensions)
    app.register_blueprint(preview_blueprint)
    _register_error_handlers(app)
    _register_access_log(app, store.pseudonymizer)  # the audit's pseudonym: a log line finds its row
    guard = store.replay if replay_guard is None else replay_guard  # (an empty guard is falsy)
    install_security(
        app,
        settings,
        build_verifier(settings, now=now, replay_guard=guard),
        deferred_replay=store.replay if guard is store.replay else None,
    )
    return app


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CdsServiceError)
    def service_error(error: CdsServiceError) -> tuple[Response, int]:
        return jsonify(error.to_operation_outcome()), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        message = error.description or error.name
        response = jsonify(operation_outcome(message, _HTTP_ISSUE_CODES.get(status, "processing")))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(
                sorted(error.valid_methods)
            )  # RFC 9110: a 405 names what is allowed
        return response, status

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        # Log the type and place only: the message (and a traceback's locals) could carry patient data.
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown"
        error_log.error(
            "unhandled %s at %s in %s", type(error).__name__, where, request.endpoint, exc_info=False
        )
        body = operation_outcome("Internal error; the request was not evaluated.", "exception")
        return jsonify(body), 500


def _register_access_log(app: Flask, pseudonymizer: Pseudonymizer) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        patient_id = g.get("patient_id")
        access_log.info(
            "%s %s %s",
            request.method,
            request.path[:200],
            response.status_code,
            extra={
                "event": "request",
                "method": request.method,
                "path": request.path[:200],
                "status": response.status_code,
                "service": g.get("service_id"),
                "hook": g.get("hook"),
                "hookInstance": g.get("hook_instance"),
                "latency_ms": round(elapsed_ms, 1),
                "patient": pseudonymizer.pseudonym(patient_id) if patient_id else None,
                "iss": g.get("token_issuer"),
                "tenant": g.get("tenant"),
            },
        )
        return response
