"""The Dockerfile's HEALTHCHECK, run as Docker would, against a live server on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from support.clock import TODAY
from support.paths import ROOT
from werkzeug.serving import make_server

from cds_service import Settings, create_app

DOCKERFILE = ROOT / "Dockerfile"


def healthcheck_argv() -> list[str]:
    """The HEALTHCHECK's exec-form CMD, with ``python`` as this interpreter."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("HEALTHCHECK ")]
    found = re.search(r"\bCMD (\[.*\])\s*$", line)
    assert found, "HEALTHCHECK must use the exec form: CMD [...]"
    argv: list[str] = json.loads(found.group(1))
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, create_app(Settings(), today=lambda: TODAY), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()


def run_healthcheck(**environ: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DN_CDS_")} | environ
    return subprocess.run(
        healthcheck_argv(), env=env, capture_output=True, timeout=20, check=False
    ).returncode


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("{port}", id="plain"),
        pytest.param(" {port} ", id="padded"),
    ],
)
def test_healthcheck_follows_dn_cds_port(port: int, value: str) -> None:
    assert run_healthcheck(DN_CDS_PORT=value.format(port=port)) == 0


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that is reserved but refuses connections (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_healthcheck_fails_when_nothing_answers_on_dn_cds_port() -> None:
    with silent_port() as port:
        assert run_healthcheck(DN_CDS_PORT=str(port)) != 0
