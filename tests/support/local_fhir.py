"""A real FHIR R4 server for the tests: ``tests/fhir_server/server.js`` (Medplum's router, in memory).

It listens on 127.0.0.1. ``npm ci`` installs its pinned packages (``package-lock.json``) into
``tests/fhir_server/node_modules`` the first time; later runs reuse them.
Node 20+ and npm must be on the PATH: the tests fail (never skip) without them.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_DIR = Path(__file__).parent / "fhir_server"
INSTALLED_MARKER = SERVER_DIR / "node_modules" / "@medplum" / "fhir-router" / "package.json"
START_TIMEOUT = 60


@dataclass(frozen=True)
class LocalFhirServer:
    """A running server: its FHIR base URL (``http://127.0.0.1:<port>/fhir/R4``)."""

    base: str
    process: subprocess.Popen[str]


def ensure_installed() -> None:
    """``npm ci`` in tests/fhir_server unless its packages are already there."""
    if INSTALLED_MARKER.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on the PATH: the FHIR server tests need Node 20+ and npm")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=SERVER_DIR,
        check=True,
        timeout=600,
    )


@contextmanager
def running_fhir_server(page_size: int = 20) -> Iterator[LocalFhirServer]:
    """Start the server on a free loopback port; stop it when the block ends."""
    ensure_installed()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on the PATH: the FHIR server tests need Node 20+")
    process = subprocess.Popen(
        [node, "server.js", "--port", "0", "--page-size", str(page_size)],
        cwd=SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield LocalFhirServer(_ready_base(process), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _ready_base(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("{"):
                base: str = json.loads(line)["base"]
                return base
        elif process.poll() is not None:
            break
    raise RuntimeError(f"the test FHIR server did not start: {''.join(seen)[-2000:]}")


def unused_loopback_url() -> str:
    """A FHIR base URL on a loopback port where nothing listens (a server that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/fhir/R4"
