"""Logs: structured JSON request lines, and never the JWT, the fhirAuthorization token or patient data.

The capture takes ALL log output: every logger (the root logger's handler sees everything that propagates,
and the service's own JSON handler is installed as ``serve`` installs it), every level down to DEBUG,
werkzeug's request log from a real loopback server, and a real ``dn-cds serve`` (gunicorn) process's stderr.

The patient appears in a log line only as the keyed pseudonym the audit stores for that call
(``DN_CDS_PSEUDONYM_KEY`` or the generated ``pseudonym.key``), so a reviewer can find a line's audit row.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import logging
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from support.clock import TODAY
from support.servers import dn_cds_serve
from support.tokens import issuer_trust, token
from werkzeug.serving import make_server

from cds_service import Settings, create_app
from cds_service.catalog import load_catalog
from cds_service.local_client import sign_service_request
from cds_service.logs import JsonFormatter, configure_logging
from cds_service.store import open_store, schema
from cds_service.store.pseudonym import KEY_FILE_NAME

PATIENT_ID = "pat-zq-90210"
MRN = "MRN-7731-SECRET"
ACCESS_TOKEN = "fhir-access-token-5b1e0c2d-never-log-me"  # noqa: S105 - a marker, not a secret
SELECT = "dry-needling-order-select"
PREFETCH_KEYS = {key for service in load_catalog().services for key in service.prefetch}
SIGN = "dry-needling-order-sign"
SECRET_WORDS = [PATIENT_ID, MRN, ACCESS_TOKEN, "Quixote", "Zebulon", "1961-07-04", "D68.0", "Von Willebrand",
                "M54.50", "Lumbago-marker", "37822005"]  # fmt: skip
LOGGERS = ["dn_cds", "werkzeug", "gunicorn.error", "gunicorn.access", "urllib3", "flask.app", "requests"]


def patient_call(hook: str = "order-select") -> dict[str, Any]:
    """A full hook call about a patient with identifiers, demographics and coded conditions."""
    order = {
        "resourceType": "ServiceRequest",
        "id": "dn-1",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "bodySite": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "37822005"}], "text": "lumbar"}
        ],
        "reasonCode": [
            {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}],
                "text": "Lumbago-marker",
            }
        ],
    }
    condition = {
        "resourceType": "Condition",
        "id": "c-1",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D68.0"}],
            "text": "Von Willebrand disease",
        },
        "subject": {"reference": f"Patient/{PATIENT_ID}", "display": "Zebulon Quixote"},
        "recordedDate": "2020-03-01",
    }
    patient = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "urn:oid:1.2.3.4", "value": MRN}],
        "name": [{"family": "Quixote", "given": ["Zebulon"]}],
        "birthDate": "1961-07-04",
    }
    context: dict[str, Any] = {
        "userId": "Practitioner/123",
        "patientId": PATIENT_ID,
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
    }
    if hook == "order-select":
        context["selections"] = ["ServiceRequest/dn-1"]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://ehr.test.example/fhir",
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Condition.read",
            "subject": "dn-cds",
        },
        "context": context,
        "prefetch": {
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]},
            "pregnancyObservations": {"resourceType": "Bundle", "type": "searchset", "total": 0},
            "patient": patient,
            **{key: None for key in PREFETCH_KEYS if key not in {"conditions", "pregnancyObservations"}},
        },
    }


class Capture:
    """Everything logged anywhere, as text, while active."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.records: list[logging.LogRecord] = []

    @property
    def text(self) -> str:
        rendered = [f"{r.name} {r.levelname} {r.getMessage()} {vars(r)}" for r in self.records]
        return self.stream.getvalue() + "\n".join(rendered)

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def capture() -> Iterator[Capture]:
    found = Capture()
    root = logging.getLogger()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in LOGGERS}
    saved_root = root.level
    service_logger = logging.getLogger("dn_cds")
    saved_handlers = list(service_logger.handlers)

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.records.append(record)

    keep = Keep(logging.DEBUG)
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).propagate = True
    service_logger.handlers.clear()
    configure_logging("DEBUG")  # the serve/wsgi set-up: JSON lines, dn_cds not propagating ...
    service_logger.handlers[0].setStream(found.stream)  # type: ignore[attr-defined]
    service_logger.propagate = True  # ... and, here, also to the root capture
    try:
        yield found
    finally:
        root.removeHandler(keep)
        root.setLevel(saved_root)
        service_logger.handlers[:] = saved_handlers
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real werkzeug server on 127.0.0.1 (its request log included), trusting the test issuer."""
    apps: list[Any] = []

    def application(environ: Any, start_response: Any) -> Any:
        return apps[0](environ, start_response)

    server = make_server("127.0.0.1", 0, application, threaded=True)
    settings = Settings(port=server.server_port, trusted_issuers=(issuer_trust(),), data_dir=tmp_path)
    apps.append(create_app(settings, today=lambda: TODAY))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield settings.base_url, tmp_path
    finally:
        server.shutdown()


def test_full_hook_calls_never_log_tokens_or_patient_data(
    capture: Capture, loopback: tuple[str, Path]
) -> None:
    base, data_dir = loopback
    jwts: list[str] = []

    def post(path: str, body: Any, aud_path: str | None = None, **headers: str) -> requests.Response:
        jwt_value = token(base + (aud_path or path))
        jwts.append(jwt_value)
        return requests.post(
            base + path, json=body, headers={"Authorization": f"Bearer {jwt_value}", **headers}, timeout=10
        )

    ok = post(f"/cds-services/{SELECT}", patient_call())
    signed = post(f"/cds-services/{SIGN}", patient_call("order-sign"))
    bad = copy.deepcopy(patient_call())
    bad["context"]["selections"] = [f"ServiceRequest/{MRN}"]
    invalid = post(f"/cds-services/{SELECT}", bad)
    missing = patient_call()
    del missing["prefetch"]
    precondition = post(f"/cds-services/{SELECT}", missing)
    refused = post(f"/cds-services/{SELECT}", patient_call(), aud_path="/cds-services")
    feedback_body = {
        "feedback": [
            {
                "card": ok.json()["cards"][0]["uuid"],  # a card the service issued (and audited)
                "outcome": "overridden",
                "overrideReason": {"userComment": f"{PATIENT_ID} Zebulon Quixote refused"},
                "outcomeTimestamp": "2026-11-26T10:00:00Z",
            }
        ]
    }
    feedback = post(f"/cds-services/{SELECT}/feedback", feedback_body)

    assert [r.status_code for r in (ok, signed, invalid, precondition, refused, feedback)] == [
        200, 200, 400, 412, 401, 200
    ]  # fmt: skip
    everything = capture.text
    for jwt_value in jwts:
        for part in jwt_value.split("."):
            assert part not in everything
    for word in SECRET_WORDS:
        assert word not in everything, word
    # Not vacuous: the structured request lines are there, with the pseudonym in place of the patient id.
    lines = [line for line in capture.json_lines() if line.get("event") == "request"]
    assert len(lines) == 6
    first = lines[0]
    key = (data_dir / KEY_FILE_NAME).read_bytes().strip()  # the embedded default's generated key
    assert first["service"] == SELECT and first["hook"] == "order-select" and first["status"] == 200
    assert first["patient"] == hmac.new(key, PATIENT_ID.encode(), hashlib.sha256).hexdigest()
    # ... the audit's pseudonym, so each logged hook call finds its audit row; one key file, not two.
    audited = audit_pseudonyms(Settings(data_dir=data_dir))
    logged = {line["hookInstance"]: line["patient"] for line in lines if line.get("hookInstance")}
    assert len(logged) == 3 and all(logged.values())  # the three calls that passed validation (200, 200, 412)
    assert logged == {instance: audited[instance] for instance in logged}
    assert sorted(path.name for path in data_dir.glob("*.key")) == [KEY_FILE_NAME]
    # The store holds no more than the log: no token, id, name, birth date or code, except the clinician's
    # free-text comment, kept as given (SECURITY.md section 7). Evidence is the EHR's Type/id references.
    stored = stored_rows(Settings(data_dir=data_dir))
    comments = [row.pop("override_comment") for row in stored["feedback"]]
    assert comments == [feedback_body["feedback"][0]["overrideReason"]["userComment"]]
    assert len(stored["hook_call"]) == 4 and stored["card"] and len(stored["token_use"]) == 5  # 401: none
    everything_stored = repr(stored)
    for jwt_value in jwts:
        for part in jwt_value.split("."):
            assert part not in everything_stored
    for word in SECRET_WORDS:
        assert word not in everything_stored, word
    evidence = [reference for row in stored["card"] for reference in row["evidence"]]
    assert evidence and all(re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9.-]+", ref) for ref in evidence), evidence
    assert first["iss"] == "https://ehr.test.example/"
    assert isinstance(first["latency_ms"], float)
    assert uuid.UUID(first["hookInstance"])
    assert any(r.name == "werkzeug" for r in capture.records)  # the dev server's own request log was captured
    assert any(
        line.get("event") == "auth-refused" and line["reason"] == "audience" for line in capture.json_lines()
    )


def test_exceptions_are_logged_by_type_and_place_only() -> None:
    try:
        raise RuntimeError(f"lookup failed for {PATIENT_ID}")
    except RuntimeError:
        record = logging.LogRecord("dn_cds.error", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())

    line = json.loads(JsonFormatter().format(record))

    assert line["exception"] == "RuntimeError"
    assert line["at"][-1].startswith("test_logs.py:")
    assert PATIENT_ID not in json.dumps(line)


def audit_pseudonyms(settings: Settings) -> dict[str, str]:
    """hookInstance -> the patient pseudonym of its audit row, read from the store ``settings`` names."""
    store = open_store(settings)
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(
                select(schema.hook_call.c.hook_instance, schema.hook_call.c.patient_pseudonym)
            )
            return {instance: patient for instance, patient in rows if instance and patient}
    finally:
        store.close()


def stored_rows(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the store ``settings`` names."""
    store = open_store(settings)
    try:
        with store.engine.connect() as connection:
            return {
                table.name: [dict(row._mapping) for row in connection.execute(select(table))]
                for table in (schema.hook_call, schema.card, schema.feedback, schema.token_use)
            }
    finally:
        store.close()


def test_the_log_and_the_audit_share_the_configured_pseudonym_key(capture: Capture, tmp_path: Path) -> None:
    """With DN_CDS_PSEUDONYM_KEY set, the log line and the audit row both carry HMAC(key, patient id);
    another key gives other pseudonyms, and a restart with the same key the same ones."""
    first_key, second_key = "k" * 40, "z" * 40
    pseudonyms: list[str] = []
    for key, data_dir in ((first_key, "one"), (first_key, "two"), (second_key, "three")):
        settings = Settings(
            trusted_issuers=(issuer_trust(),), data_dir=tmp_path / data_dir, pseudonym_key=key
        )
        body = patient_call()
        with create_app(settings, today=lambda: TODAY).test_client() as client:
            path = f"/cds-services/{SELECT}"
            response = client.post(
                path, json=body, headers={"Authorization": f"Bearer {token(settings.base_url + path)}"}
            )
        assert response.status_code == 200
        [line] = [
            line
            for line in capture.json_lines()
            if line.get("event") == "request" and line.get("hookInstance") == body["hookInstance"]
        ]
        assert line["patient"] == audit_pseudonyms(settings)[body["hookInstance"]]
        assert not (settings.data_dir / KEY_FILE_NAME).exists()  # the setting is the key: no file made
        pseudonyms.append(line["patient"])

    assert pseudonyms[0] == hmac.new(first_key.encode(), PATIENT_ID.encode(), hashlib.sha256).hexdigest()
    assert pseudonyms[0] == pseudonyms[1] != pseudonyms[2]
    assert pseudonyms[2] == hmac.new(second_key.encode(), PATIENT_ID.encode(), hashlib.sha256).hexdigest()


@pytest.mark.gunicorn
def test_gunicorn_server_logs_at_debug_hold_no_token_or_patient_data(tmp_path: Path) -> None:
    """``dn-cds serve`` at DN_CDS_LOG_LEVEL=DEBUG: gunicorn's and the service's whole output is checked."""
    settings = {"DN_CDS_LOG_LEVEL": "DEBUG", "DN_CDS_DATA_DIR": str(tmp_path / "data")}
    log_path = tmp_path / "server.log"
    with dn_cds_serve(settings, log_path=log_path, workers=2) as served:
        url = f"{served.url}/cds-services/{SELECT}"
        headers = sign_service_request(url, data_dir=tmp_path / "data")
        response = requests.post(url, json=patient_call(), headers=headers, timeout=10)
        refused = requests.post(
            url, json=patient_call(), headers={"Authorization": "Bearer x.y.z"}, timeout=10
        )

    assert (response.status_code, refused.status_code) == (200, 401)
    output = log_path.read_text()
    for part in headers["Authorization"].removeprefix("Bearer ").split("."):
        assert part not in output
    for word in SECRET_WORDS:
        assert word not in output, word
    requests_logged = [json.loads(line) for line in output.splitlines() if '"event": "request"' in line]
    assert [(line["path"], line["status"]) for line in requests_logged if line["path"] != "/healthz"] == [
        (f"/cds-services/{SELECT}", 200),
        (f"/cds-services/{SELECT}", 401),
    ]
    assert "Booting worker" in output  # gunicorn's own log was captured too
    # The workers share the generated key (made once, by the master): the logged pseudonym is the audit's.
    [logged] = [line for line in requests_logged if line["path"] != "/healthz" and line["status"] == 200]
    assert logged["patient"] == audit_pseudonyms(Settings(data_dir=tmp_path / "data"))[logged["hookInstance"]]


def test_the_store_never_logs_or_raises_with_its_statement_parameters(tmp_path: Path) -> None:
    """Even with SQLAlchemy's own engine log turned on at DEBUG, a clinician's comment (a statement parameter)
    appears neither in the log nor in a database error's message."""
    from sqlalchemy import insert
    from sqlalchemy.exc import SQLAlchemyError

    engine_log = logging.getLogger("sqlalchemy.engine")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    engine_log.addHandler(keep)
    saved = engine_log.level
    engine_log.setLevel(logging.DEBUG)
    store = open_store(Settings(data_dir=tmp_path))
    comment = f"{PATIENT_ID} Zebulon Quixote"
    try:
        with pytest.raises(SQLAlchemyError) as failed, store.engine.begin() as connection:
            connection.execute(
                insert(schema.feedback).values(card_id=999, override_comment=comment)
            )  # NOT NULLs
    finally:
        engine_log.removeHandler(keep)
        engine_log.setLevel(saved)
        store.close()

    logged = "\n".join(record.getMessage() for record in records)
    assert "INSERT INTO feedback" in logged  # not vacuous: the engine log was on
    assert comment not in logged and PATIENT_ID not in str(failed.value)
