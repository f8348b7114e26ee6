"""Metrics (what is counted, with bounded labels and no patient data) and readiness (``/readyz``), in-process.

Counters are process-wide and other tests move them too, so each test compares a sample before and after.
The same metrics under gunicorn, served by the master on ``DN_CDS_METRICS_PORT``:
tests/integration/test_several_instances.py.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import event
from sqlalchemy.engine import URL
from support.cds_client import CdsClient, issue_cards
from support.clock import TODAY
from support.services import SERVICES
from werkzeug.test import Client

from cds_service import create_app
from cds_service.audit_trail import fallback_outcome
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.fhir_client import FhirTimeout, FhirUnreachable
from cds_service.logs import GunicornJsonLogger
from cds_service.metrics import metrics_wsgi_app, service_metrics
from cds_service.readiness import StoreProbe
from cds_service.settings import Settings, SettingsError
from cds_service.store import Store, open_store
from cds_service.store.engine import create_store_engine

SERVICE = SERVICES["order-select"]
PATIENTS = load_demo_patients(TODAY)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_hook_call_counts_the_call_its_status_latency_and_its_cards(cds: CdsClient) -> None:
    patient = next(p for p in PATIENTS if p.slug == "eligible")
    labels = {"service": SERVICE.id, "hook": "order-select", "status": "200"}
    calls_before = sample("dn_cds_hook_calls_total", **labels)
    timed_before = sample("dn_cds_hook_call_seconds_count", service=SERVICE.id)
    audits_before = sample("dn_cds_audit_write_seconds_count")
    cards_before = {
        code: sample("dn_cds_cards_total", finding=code, indicator="info")
        for code in patient.expected_findings
    }

    response = cds.call(SERVICE.id, build_hook_request(patient, SERVICE))

    assert response.status_code == 200
    assert sample("dn_cds_hook_calls_total", **labels) == calls_before + 1
    assert sample("dn_cds_hook_call_seconds_count", service=SERVICE.id) == timed_before + 1
    assert sample("dn_cds_audit_write_seconds_count") == audits_before + 1
    for card in response.get_json()["cards"]:
        code = card["source"]["topic"]["code"]
        assert (
            sample("dn_cds_cards_total", finding=code, indicator=card["indicator"]) == cards_before[code] + 1
        )


def test_a_refused_call_is_counted_by_status_and_a_refused_token_by_reason(app: Flask) -> None:
    labels = {"service": SERVICE.id, "hook": "unknown", "status": "400"}  # refused before the hook is read
    bad_before = sample("dn_cds_hook_calls_total", **labels)
    missing_before = sample("dn_cds_token_refusals_total", reason="missing")
    with app.test_client() as client:
        bad = CdsClient(client).call(SERVICE.id, {"hook": "order-select", "hookInstance": "x"})
        unsigned = CdsClient(client, signed=False).call(SERVICE.id, build_hook_request(PATIENTS[0], SERVICE))

    assert (bad.status_code, unsigned.status_code) == (400, 401)
    assert sample("dn_cds_hook_calls_total", **labels) == bad_before + 1
    assert sample("dn_cds_token_refusals_total", reason="missing") == missing_before + 1


def test_feedback_is_counted_by_outcome_and_a_resent_body_as_resubmitted(app: Flask, cds: CdsClient) -> None:
    uuid = "0d7cba21-5b8e-4c43-9a41-4ce0d2a3c9e1"
    issue_cards(app, SERVICE.id, uuid)
    body = {
        "feedback": [
            {
                "card": uuid,
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-26T10:05:31Z",
            }
        ]
    }
    overridden_before = sample("dn_cds_feedback_entries_total", outcome="overridden")
    resent_before = sample("dn_cds_feedback_resubmitted_total")

    first = cds.feedback(SERVICE.id, body)
    again = cds.feedback(SERVICE.id, body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert sample("dn_cds_feedback_entries_total", outcome="overridden") == overridden_before + 2
    assert sample("dn_cds_feedback_resubmitted_total") == resent_before + 1


def test_the_exposition_has_no_patient_data_and_only_known_label_values(cds: CdsClient) -> None:
    body = build_hook_request(PATIENTS[0], SERVICE)
    cds.call(SERVICE.id, body)
    cds.raw("POST", "/cds-services/no-such-service", json={})

    text = generate_latest(REGISTRY).decode()

    lines = [line for line in text.splitlines() if line.startswith("dn_cds_")]
    assert lines
    assert body["context"]["patientId"] not in text
    assert "no-such-service" not in text  # an unknown id never becomes a label value
    services = {s.id for s in load_catalog().services} | {"other", "unknown"}
    for line in lines:
        if 'service="' in line:
            assert line.split('service="')[1].split('"')[0] in services


def test_fhir_fallback_reasons_become_a_few_fixed_words() -> None:
    assert fallback_outcome("read") == "read"
    assert fallback_outcome(FhirTimeout.default_reason) == "timeout"
    assert fallback_outcome(FhirUnreachable.default_reason) == "unreachable"
    assert fallback_outcome("no answer within the time budget (2 s)") == "time-budget"
    assert fallback_outcome("the FHIR search has more than 5 pages (read as incomplete)") == "too-many-pages"
    assert fallback_outcome("Patient/123 said something else entirely") == "other"


def test_the_metrics_app_answers_only_on_slash_metrics() -> None:
    service_metrics()  # registered (create_app does it; this test needs no app)
    client = Client(metrics_wsgi_app())

    metrics = client.get("/metrics")
    elsewhere = client.get("/cds-services")

    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert b"# TYPE dn_cds_hook_calls_total counter" in metrics.data
    assert elsewhere.status_code == 404


def test_metrics_port_setting() -> None:
    assert Settings.from_env({}).metrics_port == 0
    assert Settings.from_env({"DN_CDS_METRICS_PORT": "9090"}).metrics_port == 9090
    with pytest.raises(SettingsError, match="METRICS_PORT must differ"):
        Settings.from_env({"DN_CDS_METRICS_PORT": "8080"})
    with pytest.raises(SettingsError, match="METRICS_PORT"):
        Settings.from_env({"DN_CDS_METRICS_PORT": "http"})
    with pytest.raises(SettingsError, match="READINESS_TIMEOUT_SECONDS"):
        Settings.from_env({"DN_CDS_READINESS_TIMEOUT_SECONDS": "0"})


# --- Readiness --------------------------------------------------------------------------------------------


def test_readyz_is_200_when_the_store_answers(cds: CdsClient) -> None:
    response = cds.raw("GET", "/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "knowledge": "loaded"}


@pytest.fixture
def unreachable_store(store_settings: Settings) -> Iterator[tuple[Store, Settings]]:
    """A store whose database cannot be reached: PostgreSQL on a closed port, SQLite under a file."""
    opened = open_store(store_settings)
    opened.close()
    url = opened.engine.url
    if url.get_backend_name() == "sqlite":
        blocked = store_settings.data_dir / "blocked"
        engine = create_store_engine(url.set(database=str(blocked / "x.sqlite3")))
        broken = Store(engine, opened.pseudonymizer)
        shutil.rmtree(blocked)  # the engine creates the (empty) database file, mode 0600, at once
        blocked.write_text("a file where the database's directory should be")
    else:
        broken = Store(create_store_engine(url.set(port=1)), opened.pseudonymizer)
    try:
        yield broken, store_settings
    finally:
        broken.close()


def test_readyz_is_503_when_the_store_cannot_be_reached(unreachable_store: tuple[Store, Settings]) -> None:
    broken, settings = unreachable_store
    app = create_app(settings, today=lambda: TODAY, store=broken)
    before = sample("dn_cds_readiness_failures_total", cause="store-error")

    readiness = app.test_client().get("/readyz")
    liveness = app.test_client().get("/healthz")

    assert readiness.status_code == 503
    assert readiness.get_json() == {"status": "not-ready", "knowledge": "loaded", "store": "store-error"}
    assert liveness.status_code == 200  # liveness: restarting the process would not bring the database back
    assert sample("dn_cds_readiness_failures_total", cause="store-error") == before + 1


def test_a_store_that_hangs_fails_the_check_on_time_and_recovers(tmp_path: Path) -> None:
    engine = create_store_engine(URL.create("sqlite+pysqlite", database=str(tmp_path / "x.db")))
    released, entered = threading.Event(), threading.Event()

    def hang(*_args: Any) -> None:
        if not released.is_set():
            entered.set()
            released.wait(30)

    event.listen(engine, "before_cursor_execute", hang)
    probe = StoreProbe(engine, timeout_seconds=0.05)
    try:
        first = probe.check()  # the query hangs: the deadline passes
        assert entered.wait(30)
        second = probe.check()  # still hung: fails at once, starts no second query
        released.set()
        assert probe._pending is not None
        probe._pending.result(timeout=30)  # the stuck query comes back
        third = probe.check()
    finally:
        released.set()
        engine.dispose()

    assert (first.ready, first.cause) == (False, "store-timeout")
    assert (second.ready, second.cause) == (False, "store-timeout")
    assert third.ready


# --- gunicorn's own log lines ---------------------------------------------------------------------------


def test_gunicorn_log_lines_are_json_like_the_services() -> None:
    from gunicorn.config import Config

    config = Config()
    config.set("errorlog", "-")
    config.set("accesslog", "-")
    logger = GunicornJsonLogger(config)
    stream = io.StringIO()
    for log in (logger.error_log, logger.access_log):
        for handler in log.handlers:
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(stream)

    logger.info("Booting worker with pid: %s", 1234)
    logger.access(
        type("Response", (), {"status_code": 200})(),
        None,
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/cds-services/x", "QUERY_STRING": "patient=123"},
        timedelta(milliseconds=12),
    )

    error_line, access_line = (json.loads(line) for line in stream.getvalue().splitlines())
    assert error_line["logger"] == "gunicorn.error"
    assert error_line["message"] == "Booting worker with pid: 1234"
    assert access_line["path"] == "/cds-services/x" and access_line["status"] == 200
    assert "patient=123" not in stream.getvalue()
