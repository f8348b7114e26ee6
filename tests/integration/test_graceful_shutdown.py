"""Graceful shutdown: on SIGTERM a hook call already in flight is finished and answered; gunicorn exits 0.

The call is held in flight by a FHIR server on loopback that does not answer its read until the test says so:
the test waits for the read to arrive (an event), sends SIGTERM to the master, waits for the master's own
log line saying it is handling it (read from its stderr as it comes), and only then lets the FHIR read answer.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import pytest
import requests
from postgresql_server import free_port

from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients

SERVICE = next(s for s in load_catalog().services if s.hook == "order-select")


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


def lines_of(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def wait_for_line(lines: queue.Queue[str], needle: str) -> str:
    """The first line containing ``needle``, as the server writes it (fails if none within 60 s)."""
    while True:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            pytest.fail(f"the server never logged {needle!r}")
        if needle in line:
            return line


def test_sigterm_lets_the_call_in_flight_finish(held_fhir: HeldFhirServer, tmp_path: Path) -> None:
    port = free_port()
    fhir_base = f"http://127.0.0.1:{held_fhir.server_address[1]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env.update(
        {
            "DN_CDS_HOST": "127.0.0.1",
            "DN_CDS_PORT": str(port),
            "DN_CDS_WORKERS": "2",
            "DN_CDS_AUTH": "off",
            "DN_CDS_DATA_DIR": str(tmp_path / "data"),
            "DN_CDS_FHIR_SERVER_ALLOWLIST": fhir_base,
            "DN_CDS_FHIR_TIME_BUDGET_SECONDS": "15",
            "DN_CDS_FHIR_READ_TIMEOUT_SECONDS": "15",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lines_of, args=(process.stderr, lines), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_line(lines, "Listening at")  # bound: a call from now on waits in the backlog for a worker
        patient = next(p for p in load_demo_patients(datetime.now(UTC).date()) if p.slug == "eligible")
        body = build_hook_request(patient, SERVICE)
        del body["prefetch"]["conditions"]  # to be read from fhirServer, where it is held
        body["fhirServer"] = fhir_base
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(requests.post, f"{url}/cds-services/{SERVICE.id}", json=body, timeout=60)
            assert held_fhir.arrived.wait(60), "the hook call never reached the FHIR server"
            process.send_signal(signal.SIGTERM)
            wait_for_line(lines, "Handling signal: term")
            held_fhir.release.set()
            answer = in_flight.result()
        exit_code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=30)  # the pipe ends when the server's processes have exited
        process.stderr.close()

    assert answer.status_code == 200
    assert answer.json()["cards"]
    assert exit_code == 0
