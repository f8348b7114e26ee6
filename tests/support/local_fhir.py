"""A real FHIR R4 server for the tests: ``tests/fhir_server/server.js`` (Medplum's router, in memory).

It listens on 127.0.0.1. ``npm ci`` installs its pinned packages (``package-lock.json``) into
``tests/fhir_server/node_modules`` the first time; later runs reuse them.
Node 20+ and npm must be on the PATH: the tests fail (never skip) without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from support.paths import FHIR_SERVER_DIR
from support.servers import free_port, started

INSTALLED_MARKER = FHIR_SERVER_DIR / "node_modules" / "@medplum" / "fhir-router" / "package.json"


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
        cwd=FHIR_SERVER_DIR,
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
    command = [node, "server.js", "--port", "0", "--page-size", str(page_size)]
    # it prints {"ready": true, "base": ...} once it listens
    with started(command, lambda line: line.startswith("{"), cwd=FHIR_SERVER_DIR) as server:
        yield LocalFhirServer(json.loads(server.ready_line)["base"], server.process)


def unused_loopback_url() -> str:
    """A FHIR base URL on a loopback port where nothing listens (a server that is down)."""
    return f"http://127.0.0.1:{free_port()}/fhir/R4"
