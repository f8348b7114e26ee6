"""Graceful shutdown: on SIGTERM a hook call already in flight is finished and answered; gunicorn exits 0.

The call is held in flight by a FHIR server on loopback that does not answer its read until the test says so:
the test waits for the read to arrive (an event), sends SIGTERM to the master, waits for the master's own
log line saying it is handling it (read from its output as it comes, tests/support/servers.py), and only then
lets the FHIR read answer.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from support.servers import dn_cds_serve
from support.services import SERVICES

from cds_service.demo import build_hook_request, load_demo_patients

SERVICE = SERVICES["order-select"]


class HeldFhirServer(ThreadingHTTPServer):
    """Answers every search with an empty searchset, once ``release`` is set; ``arrived`` is set on the first
    request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HeldHandler)
        self.arrived = threading.Event()
        self.release = threading.Event()


class _HeldHandler(BaseHTTPRequestHandler):
    server: HeldFhirServer

    def do_GET(self) -> None:
        self.server.arrived.set()
        self.server.release.wait(60)
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def held_fhir() -> Iterator[HeldFhirServer]:
    server = HeldFhirServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_sigterm_lets_the_call_in_flight_finish(held_fhir: HeldFhirServer, tmp_path: Path) -> None:
    fhir_base = f"http://127.0.0.1:{held_fhir.server_address[1]}"
    settings = {
        "DN_CDS_AUTH": "off",
        "DN_CDS_DATA_DIR": str(tmp_path / "data"),
        "DN_CDS_FHIR_SERVER_ALLOWLIST": fhir_base,
        "DN_CDS_FHIR_TIME_BUDGET_SECONDS": "15",
        "DN_CDS_FHIR_READ_TIMEOUT_SECONDS": "15",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    # announced once it listens: a call from now on waits in the backlog for a worker
    with dn_cds_serve(settings, workers=2) as served:
        patient = next(p for p in load_demo_patients(datetime.now(UTC).date()) if p.slug == "eligible")
        body = build_hook_request(patient, SERVICE)
        del body["prefetch"]["conditions"]  # to be read from fhirServer, where it is held
        body["fhirServer"] = fhir_base
        url = f"{served.url}/cds-services/{SERVICE.id}"
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(requests.post, url, json=body, timeout=60)
            assert held_fhir.arrived.wait(60), "the hook call never reached the FHIR server"
            seen = len(served.output.lines)
            served.process.send_signal(signal.SIGTERM)
            served.output.wait_for("Handling signal: term", start=seen, timeout=60)
            held_fhir.release.set()
            answer = in_flight.result()
        exit_code = served.process.wait(timeout=60)

    assert answer.status_code == 200
    assert answer.json()["cards"]
    assert exit_code == 0
