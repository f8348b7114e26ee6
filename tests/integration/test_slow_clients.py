"""The default ``dn-cds serve`` answers real hook calls while idle and trickling connections are held open.

A smaller version of ``scripts/benchmark_slow_clients.py`` (which holds 200 idle + 50 trickling for 60 s and
reports latencies): here 40 connections that send nothing, 5 that trickle their headers and 5 authenticated
ones that send their headers and then stall mid-body, all opened before the real calls. The only time bound
is a generous sanity timeout on each real call (with the old gthread model, 4 threads x 2 workers, these
connections held every thread and the calls timed out).
"""

from __future__ import annotations

import copy
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.conformance import assert_cards_response
from support.hook_bodies import VALID
from support.servers import serving

from cds_service.local_client import sign_service_request
from cds_service.settings import Settings

SELECT = "dry-needling-order-select"
IDLE, HEADER_TRICKLE, BODY_TRICKLE = 40, 5, 5


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("slow-clients-data")
    settings = Settings(data_dir=data_dir)
    log_path = tmp_path_factory.mktemp("slow-clients") / "server.log"
    # the defaults of `dn-cds serve`: workers, worker class and authentication as shipped
    with serving(
        settings, log_path, workers=Settings().workers, env_overrides={"DN_CDS_AUTH": "required"}
    ) as (
        url,
        _process,
    ):
        yield url, data_dir


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _signed_call(url: str, data_dir: Path) -> requests.Response:
    endpoint = f"{url}/cds-services/{SELECT}"
    body = copy.deepcopy(VALID)
    body["hookInstance"] = str(uuid.uuid4())
    headers = sign_service_request(endpoint, data_dir=data_dir)
    return requests.post(endpoint, json=body, headers=headers, timeout=10)


def test_real_calls_are_answered_while_slow_connections_are_held(default_server: tuple[str, Path]) -> None:
    url, data_dir = default_server
    host = url.removeprefix("http://")
    held: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            held.append(_connect(url))
        for index in range(HEADER_TRICKLE):
            sock = _connect(url)
            sock.sendall(
                f"POST /cds-services/{SELECT} HTTP/1.1\r\nHost: {host}\r\nX-Slow-{index}: a\r\n".encode()
            )
            held.append(sock)
        for _ in range(BODY_TRICKLE):
            sock = _connect(url)
            endpoint = f"{url}/cds-services/{SELECT}"
            auth = sign_service_request(endpoint, data_dir=data_dir)["Authorization"]
            head = (
                f"POST /cds-services/{SELECT} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            )
            sock.sendall(head.encode() + json.dumps(VALID).encode()[:200])
            held.append(sock)

        answers = [_signed_call(url, data_dir) for _ in range(3)]

        for response in answers:
            assert response.status_code == 200, response.text
            assert_cards_response(response.json())
    finally:
        for sock in held:
            sock.close()


def test_a_connection_that_never_sends_its_headers_is_closed(default_server: tuple[str, Path]) -> None:
    """A client that opens a connection and trickles (or never sends) its request headers is dropped after
    the header deadline (gunicorn ``keepalive``), rather than holding a worker's attention for ever."""
    url, _data_dir = default_server
    with _connect(url) as idle, _connect(url) as trickling:
        trickling.sendall(f"POST /cds-services/{SELECT} HTTP/1.1\r\n".encode())

        assert idle.recv(1) == b""  # blocks until the server closes it (socket timeout 30 s)
        assert trickling.recv(1024) == b""
