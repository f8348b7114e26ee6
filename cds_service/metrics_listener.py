"""The metrics side of gunicorn's master: the Prometheus multiprocess directory and the ``/metrics`` listener.

Workers write their samples to files in one directory (``PROMETHEUS_MULTIPROC_DIR``); the master reads them
all when scraped, on ``DN_CDS_METRICS_PORT``, from a daemon thread. Used by the hooks in
:mod:`cds_service.gunicorn_config`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cds_service.metrics import MULTIPROCESS_DIR_VARIABLE
from cds_service.settings import Settings, bracketed


def prepare_multiprocess_dir() -> tuple[str, bool]:
    """``PROMETHEUS_MULTIPROC_DIR`` if set (emptied of an earlier run's files), else a new private temporary
    directory, set in the environment so the workers inherit it (``TMPDIR`` decides where: a writable volume
    under a read-only root filesystem). Returns the directory and whether it was created here. Must run
    before the app (and so prometheus_client) is loaded."""
    configured = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in directory.glob("*.db"):  # counters of a previous run would be added to this one's
            stale.unlink()
        return str(directory), False
    created = tempfile.mkdtemp(prefix="dn-cds-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = created
    return created, True


def remove_multiprocess_dir(directory: str) -> None:
    """Delete the directory :func:`prepare_multiprocess_dir` created."""
    shutil.rmtree(directory, ignore_errors=True)


def forget_worker(pid: int, directory: str) -> None:
    """A worker is gone: drop its live-gauge files (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class _MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _MetricsServer6(_MetricsServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes are not logged (one every few seconds would drown the service's lines)."""


def start_metrics_listener(settings: Settings) -> WSGIServer | None:
    """Serve ``GET /metrics`` (every worker's samples) on ``DN_CDS_METRICS_PORT`` from a daemon thread; none
    when the port is 0. Its own port, so the proxy in front of the service never exposes it."""
    if not settings.metrics_port:
        return None
    from cds_service.metrics import metrics_wsgi_app

    server = make_server(
        settings.host.strip("[]"),
        settings.metrics_port,
        metrics_wsgi_app(),
        server_class=_MetricsServer6 if ":" in settings.host else _MetricsServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="dn-cds-metrics", daemon=True).start()
    logging.getLogger("gunicorn.error").info(
        "metrics on http://%s:%s/metrics", bracketed(settings.host), settings.metrics_port
    )
    return server
