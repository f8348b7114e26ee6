"""``dn-cds serve`` with its default serving settings, started by a benchmark on a free 127.0.0.1 port.

The server gets a scratch data directory (audit database, local client key) and nothing else that differs
from a clinic running ``dn-cds serve`` alone: workers, threads and worker class are the defaults unless the
caller passes ``env`` (e.g. ``GUNICORN_CMD_ARGS`` to compare serving models).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
import requests

from cds_service.cli import GUNICORN_ARGS
from cds_service.local_client import LOCAL_ISSUER, TOKEN_LIFETIME, audience, ensure_local_key, public_jwk


@dataclass(frozen=True, slots=True)
class Served:
    """A running server: its base URL and data directory (where the local client key lives)."""

    url: str
    data_dir: Path
    process_group: int = 0  # the server's process group (master and workers), for CPU accounting


def machine_ticks() -> tuple[int, int, int]:
    """(all, idle + iowait, steal) clock ticks of the whole machine so far (Linux /proc/stat, first line):
    the difference over a run says how busy the machine was and how much the hypervisor took."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]), fields[3] + fields[4], steal


def group_cpu_seconds(process_group: int) -> float:
    """User + system CPU seconds used so far by the live processes of ``process_group`` (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile, or not readable
            continue
        if int(fields[2]) == process_group:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    auth: bool = True, env: Mapping[str, str] | None = None, *, stack_floor: bool = False
) -> Iterator[Served]:
    """``dn-cds serve`` (defaults) in its own process group; SIGTERM at the end. With ``stack_floor``, the
    same gunicorn command and configuration serving ``stack_floor_app`` (the stack with no service in it)."""
    data_dir = Path(tempfile.mkdtemp(prefix="dn-cds-bench-"))
    port = free_port()
    child_env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    child_env.update(
        {
            "DN_CDS_HOST": "127.0.0.1",
            "DN_CDS_PORT": str(port),
            "DN_CDS_DATA_DIR": str(data_dir),
            "DN_CDS_LOG_LEVEL": "WARNING",
            "DN_CDS_AUTH": "required" if auth else "off",
        }
    )
    child_env.update(env or {})
    log_path = data_dir / "server.log"
    with log_path.open("ab") as log:
        command = [sys.executable, "-m", "cds_service", "serve"]
        if stack_floor:
            app = ["--chdir", str(Path(__file__).parent), "stack_floor_app:app"]
            command = [sys.executable, *GUNICORN_ARGS[:-1], *app]
        process = subprocess.Popen(
            command,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log_path.read_text(errors='replace')}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield Served(url, data_dir, process.pid)  # start_new_session: its pid is the group id
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def token_signer(endpoint: str, data_dir: Path) -> Callable[[], str]:
    """A function giving a fresh single-use bearer token for ``endpoint`` signed as the local client (the
    key read and its ``kid`` computed once, unlike ``sign_service_request``, so pools sign fast)."""
    key = ensure_local_key(data_dir)
    kid = public_jwk(key)["kid"]
    aud = audience(endpoint)

    def sign() -> str:
        issued = datetime.now(UTC)
        claims = {
            "iss": LOCAL_ISSUER,
            "aud": aud,
            "iat": int(issued.timestamp()),
            "exp": int((issued + TOKEN_LIFETIME).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, key, algorithm="ES384", headers={"kid": kid, "typ": "JWT"})

    return sign
