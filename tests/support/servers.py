"""``dn-cds serve`` (gunicorn, several workers) as a real process on a free 127.0.0.1 port, in its own process
group (so a test can SIGKILL master and workers at once), for the store's load tests and benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests
from postgresql_server import free_port

from cds_service.settings import Settings


class ServerFailed(RuntimeError):
    """The server exited or did not answer /healthz in time."""


@contextmanager
def serving(
    settings: Settings, log_path: Path, workers: int = 4, env_overrides: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``dn-cds serve`` in its own process group on a free loopback port; stopped (SIGTERM) at the end.

    Authentication is off and the log level WARNING unless ``env_overrides`` (``DN_CDS_*`` values) say
    otherwise."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env.update(
        {
            "DN_CDS_HOST": "127.0.0.1",
            "DN_CDS_PORT": str(port),
            "DN_CDS_WORKERS": str(workers),
            "DN_CDS_AUTH": "off",
            "DN_CDS_DATA_DIR": str(settings.data_dir),
            "DN_CDS_PSEUDONYM_KEY": settings.pseudonym_key,
            "DN_CDS_LOG_LEVEL": "WARNING",
        }
    )
    if settings.database_url:
        env["DN_CDS_DATABASE_URL"] = settings.database_url
    # gunicorn's metrics files beside the log (pytest removes them), also when a test SIGKILLs the server
    env["PROMETHEUS_MULTIPROC_DIR"] = str(log_path.with_name(f"{log_path.stem}-metrics"))
    env.update(env_overrides or {})
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cds_service", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"server exited early:\n{log_path.read_text(errors='replace')}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed("server did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
