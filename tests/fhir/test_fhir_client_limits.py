"""Bounds on what one FHIR answer may cost: its size (``DN_CDS_FHIR_MAX_RESPONSE_BYTES``) and its wall-clock
time (the hook call's time budget bounds the whole read, however slowly a server trickles its bytes).

``responses`` covers sizes; a tiny scripted HTTP server on 127.0.0.1 (raw sockets, started and stopped by each
test) covers what needs real sockets: trickled headers and bodies, endless chunked bodies, connection reuse.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from support.tokens import issuer_trust

from cds_service import Settings, create_app
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.fhir_client import FhirBadResponse, FhirClient, FhirResponseTooLarge, FhirTimeout
from cds_service.settings import SettingsError

BASE = "https://ehr.example.org/fhir/R4"
EMPTY_BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": []}
SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "bleeding-disorder")
PATIENT_RESOURCE = next(
    r for r in PATIENT.chart if r.get("resourceType") == "Patient" and r.get("id") == PATIENT.patient_id
)
TRICKLE_INTERVAL = 0.05  # far below the read timeout: each socket read succeeds, only the total is slow
TRICKLED_BYTES = 600  # 30 s at TRICKLE_INTERVAL: far past every deadline the tests set


def padded_bundle(size: int) -> bytes:
    """A valid searchset Bundle of exactly ``size`` bytes (JSON padded with spaces)."""
    text = json.dumps(EMPTY_BUNDLE).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


def deadline(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


# --- size: responses ----------------------------------------------------------------------------------------


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_an_answer_up_to_the_limit_is_read(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/Condition", body=padded_bundle(4096))

    assert FhirClient(max_response_bytes=4096).get_json(f"{BASE}/Condition", None, deadline()) == EMPTY_BUNDLE


def test_an_answer_past_the_limit_is_a_typed_error(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/Condition", body=padded_bundle(4097))

    with pytest.raises(FhirResponseTooLarge, match=r"larger than 4 KB"):
        FhirClient(max_response_bytes=4096).get_json(f"{BASE}/Condition", None, deadline())


def test_a_compressed_answer_is_limited_by_its_decoded_size(mock: responses.RequestsMock) -> None:
    bomb = gzip.compress(padded_bundle(50 * 1024 * 1024))  # 50 MB of JSON in about 50 KB
    mock.get(f"{BASE}/Condition", body=bomb, headers={"Content-Encoding": "gzip"})
    mock.get(
        f"{BASE}/Observation", body=gzip.compress(padded_bundle(2000)), headers={"Content-Encoding": "gzip"}
    )
    client = FhirClient(max_response_bytes=1024 * 1024)

    assert client.get_json(f"{BASE}/Observation", None, deadline()) == EMPTY_BUNDLE
    with pytest.raises(FhirResponseTooLarge, match=r"larger than 1 MB"):
        client.get_json(f"{BASE}/Condition", None, deadline())


def test_a_body_that_does_not_decode_is_not_fhir_json(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/Condition", body=b"not gzip at all", headers={"Content-Encoding": "gzip"})

    with pytest.raises(FhirBadResponse):
        FhirClient().get_json(f"{BASE}/Condition", None, deadline())


def test_the_default_limit_is_the_setting(mock: responses.RequestsMock) -> None:
    conditions = re.compile(re.escape(BASE) + r"/Condition\?.*")
    mock.get(conditions, body=padded_bundle(10 * 1024 * 1024 + 1))
    mock.get(re.compile(re.escape(BASE) + r"/(?!Condition)\w+\?.*"), json=EMPTY_BUNDLE)  # every other key
    mock.get(f"{BASE}/Patient/{PATIENT.patient_id}", json=PATIENT_RESOURCE)  # the Patient read
    hook = build_hook_request(PATIENT, SERVICE, with_prefetch=False)
    hook["fhirServer"] = BASE
    settings = Settings(fhir_server_allowlist=(BASE,), trusted_issuers=(issuer_trust(),))
    cds = CdsClient(create_app(settings, today=lambda: TODAY).test_client())

    response = cds.call(SERVICE.id, hook)

    [card] = [
        c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "patient-data-incomplete"
    ]
    assert card["summary"].startswith("Could not read conditions:")
    assert "larger than 10 MB" in card["detail"]
    mock.replace(responses.GET, conditions, body=padded_bundle(10 * 1024 * 1024))
    assert "patient-data-incomplete" not in str(cds.call(SERVICE.id, hook).get_json())


def test_max_response_bytes_setting_from_env() -> None:
    assert Settings.from_env({}).fhir_max_response_bytes == 10 * 1024 * 1024
    assert Settings.from_env({"DN_CDS_FHIR_MAX_RESPONSE_BYTES": "2048"}).fhir_max_response_bytes == 2048
    for bad in ("1023", "many", str(2**40)):
        with pytest.raises(SettingsError, match="DN_CDS_FHIR_MAX_RESPONSE_BYTES"):
            Settings.from_env({"DN_CDS_FHIR_MAX_RESPONSE_BYTES": bad})


# --- a scripted server on 127.0.0.1 -------------------------------------------------------------------------

Script = Callable[[socket.socket, "ScriptedServer"], None]


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and runs ``script`` on each (one thread per connection)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}/fhir/R4"
        self.connections = 0
        self.bytes_sent = 0
        self.client_gone = threading.Event()
        self.trickle_done = threading.Event()  # a trickle sent its last byte (the client waited it out)
        self.stopped = threading.Event()
        self.listener.settimeout(0.1)
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.script(conn, self)
            except OSError:
                self.client_gone.set()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)

    def close(self) -> None:
        self.stopped.set()
        self._accepting.join(timeout=5)
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def read_request(conn: socket.socket) -> str:
    """The request line and headers ('' when the client closed the connection)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode("latin-1")


def head(length: int | None = None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n{framing}{extra}\r\n".encode()


def trickle(server: ScriptedServer, conn: socket.socket, data: bytes) -> None:
    for index in range(len(data)):
        server.send(conn, data[index : index + 1])
        if server.stopped.wait(TRICKLE_INTERVAL):
            return
    server.trickle_done.set()


def trickled_body(conn: socket.socket, server: ScriptedServer) -> None:
    """Headers at once, then a valid Bundle one byte every 50 ms (30 s in all)."""
    read_request(conn)
    body = padded_bundle(TRICKLED_BYTES)
    server.send(conn, head(len(body)))
    trickle(server, conn, body)


def trickled_headers(conn: socket.socket, server: ScriptedServer) -> None:
    """The status line, then a header one byte every 50 ms (30 s), then a valid Bundle."""
    read_request(conn)
    body = padded_bundle(200)
    server.send(conn, b"HTTP/1.1 200 OK\r\n")
    trickle(server, conn, b"X-Padding: " + b"a" * TRICKLED_BYTES + b"\r\n")
    server.send(conn, head(len(body)).removeprefix(b"HTTP/1.1 200 OK\r\n") + body)


def endless_chunks(conn: socket.socket, server: ScriptedServer) -> None:
    """A chunked body that never ends (stops at 500 MB, or when the client goes)."""
    read_request(conn)
    server.send(conn, head() + b"1\r\n{\r\n")
    chunk = b" " * 65536
    while server.bytes_sent < 500 * 1024 * 1024 and not server.stopped.is_set():
        server.send(conn, b"10000\r\n" + chunk + b"\r\n")


def huge_declared(conn: socket.socket, server: ScriptedServer) -> None:
    """Declares 1 GB, sends a little and then waits until the test ends (a client that believed the header
    would wait too, until its deadline: a timeout, not the size error)."""
    read_request(conn)
    server.send(conn, head(1024 * 1024 * 1024) + b"{")
    server.stopped.wait()


def keep_alive(conn: socket.socket, server: ScriptedServer) -> None:
    """Any number of requests on one connection, answered alternately with Content-Length and chunked."""
    body = padded_bundle(300)
    for index in range(100):
        if not read_request(conn):
            return
        if index % 2 == 0:
            server.send(conn, head(len(body)) + body)
        else:
            server.send(conn, head() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")


def failed_get(client: FhirClient, url: str, budget: float) -> type[Exception] | None:
    """The type of error ``get_json`` raised within ``budget`` seconds (``None``: it answered)."""
    try:
        client.get_json(url, None, time.monotonic() + budget)
    except Exception as error:  # the test looks at the type
        return type(error)
    return None


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(trickled_body, id="body"),
        pytest.param(trickled_headers, id="headers"),
    ],
)
def test_a_trickling_server_is_cut_off_at_the_deadline(
    serve: Callable[[Script], ScriptedServer], script: Script
) -> None:
    server = serve(script)  # 30 s in all, every byte well within the 2 s read timeout

    error = failed_get(FhirClient(read_timeout=2.0), f"{server.base}/Condition", budget=0.5)

    assert error is FhirTimeout
    assert not server.trickle_done.is_set()  # cut at the deadline, before the server was done
    assert server.client_gone.wait(
        timeout=2
    )  # the connection was dropped, not left reading in the background


def test_an_endless_chunked_body_is_stopped_past_the_limit(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(endless_chunks)

    error = failed_get(FhirClient(max_response_bytes=1024 * 1024), f"{server.base}/Condition", budget=10)

    assert error is FhirResponseTooLarge
    assert server.client_gone.wait(timeout=5)
    assert server.bytes_sent < 100 * 1024 * 1024  # reading stopped early (what remains is socket buffers)


def test_a_declared_length_past_the_limit_is_refused_without_reading(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(huge_declared)

    error = failed_get(FhirClient(), f"{server.base}/Condition", budget=10)

    assert error is FhirResponseTooLarge  # refused at the header: waiting for the body would end in a timeout


def test_connections_are_reused_across_reads(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(keep_alive)
    client = FhirClient()

    answers = [client.get_json(f"{server.base}/Condition?n={n}", None, deadline()) for n in range(4)]

    assert answers == [EMPTY_BUNDLE] * 4
    assert server.connections == 1  # both Content-Length and chunked bodies give the connection back


def test_a_trickling_server_leaves_the_hook_call_a_warning_within_the_budget(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    def router(conn: socket.socket, server: ScriptedServer) -> None:
        request = read_request(conn)
        if "/Condition?" in request.split("\r\n", 1)[0]:
            body = padded_bundle(TRICKLED_BYTES)
            server.send(conn, head(len(body)))
            trickle(server, conn, body)
        elif "/Patient/" in request.split("\r\n", 1)[0]:  # the Patient read: the resource itself
            body = json.dumps(PATIENT_RESOURCE).encode()
            server.send(conn, head(len(body)) + body)
        else:
            body = padded_bundle(100)
            server.send(conn, head(len(body)) + body)

    server = serve(router)
    app = create_app(
        Settings(
            fhir_server_allowlist=(server.base,),
            fhir_time_budget_seconds=1.5,  # well under the 30 s trickle; room for a loaded CI machine
            trusted_issuers=(issuer_trust(),),
        ),
        today=lambda: TODAY,
    )
    hook: dict[str, Any] = build_hook_request(PATIENT, SERVICE, with_prefetch=False)
    hook["fhirServer"] = server.base

    response = CdsClient(app.test_client()).call(SERVICE.id, hook)

    cards = response.get_json()["cards"]
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "patient-data-incomplete"]
    # The trickled conditions are cut at the budget (on a loaded machine another key may miss it too).
    assert card["summary"].startswith("Could not read conditions")
    assert "time budget" in card["detail"]
    assert not server.trickle_done.is_set()  # the answer came before the trickle was over
    assert server.client_gone.wait(timeout=2)
