"""The Flask application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cards import load_card_wording
from cds_service.advice import Advisor
from cds_service.catalog import load_catalog
from cds_service.errors import CdsServiceError, operation_outcome
from cds_service.patient_data import NoFetcher, PatientDataFetcher
from cds_service.routes import ServiceState, blueprint
from cds_service.settings import Settings
from fhir_mappings import load_knowledge

access_log = logging.getLogger("dn_cds.access")
error_log = logging.getLogger("dn_cds.error")
_HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


def utc_today() -> date:
    """Today's date in UTC (the default clock)."""
    return datetime.now(UTC).date()


def create_app(
    settings: Settings | None = None,
    *,
    fetcher: PatientDataFetcher | None = None,
    today: Callable[[], date] = utc_today,
) -> Flask:
    """Build the app: knowledge and wording are loaded and checked here, once (fail fast)."""
    settings = settings or Settings.from_env()
    knowledge = load_knowledge()
    wording = load_card_wording(knowledge.findings)
    advisor = Advisor(knowledge, wording, fetcher or NoFetcher(), settings.local_order_codes)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # CDS Hooks 3.0 D9: keep key order
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["dn_cds"] = ServiceState(settings, load_catalog(), advisor, today)
    app.register_blueprint(blueprint)
    _register_error_handlers(app)
    _register_access_log(app)
    return app


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CdsServiceError)
    def service_error(error: CdsServiceError) -> tuple[Response, int]:
        return jsonify(error.to_operation_outcome()), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        message = error.description or error.name
        return jsonify(operation_outcome(message, _HTTP_ISSUE_CODES.get(status, "processing"))), status

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        # Log the type and place only: the message could carry patient data.
        error_log.error("unhandled %s in %s", type(error).__name__, request.endpoint, exc_info=False)
        body = operation_outcome("Internal error; the request was not evaluated.", "exception")
        return jsonify(body), 500


def _register_access_log(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            "%s %s status=%s service=%s hookInstance=%s latency_ms=%.1f",
            request.method,
            request.path,
            response.status_code,
            g.get("service_id", "-"),
            g.get("hook_instance", "-"),
            elapsed_ms,
        )
        return response
