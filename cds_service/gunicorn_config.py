"""gunicorn settings, from the same ``DN_CDS_*`` variables as the service (used by Docker and ``serve``).

Besides the serving settings: JSON logs (:class:`~cds_service.logs.GunicornJsonLogger`), the Prometheus
multiprocess directory and the metrics listener (``DN_CDS_METRICS_PORT``), and graceful shutdown.
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

_settings = Settings.from_env()

bind = _settings.bind
workers = _settings.workers
preload_app = True  # load and check the knowledge once, in the master, before forking
worker_class = "gthread"
threads = 4
timeout = 30  # seconds: well above the CDS Hooks ~500 ms budget, below typical proxy timeouts
limit_request_line = 8190
forwarded_allow_ips = "127.0.0.1"
# gunicorn >= 25 opens a control socket under $HOME or the working directory, which a read-only,
# non-root container cannot write; the service does not use it.
control_socket_disable = True

# --- Logging: one format. gunicorn's own lines are JSON like the service's (cds_service/logs.py).
accesslog = None  # the app writes its own PHI-free access log (dn_cds.access)
errorlog = "-"
loglevel = _settings.log_level.lower()
logger_class = "cds_service.logs.GunicornJsonLogger"

# --- Graceful shutdown. On SIGTERM the master stops accepting, each worker finishes the calls it has in
# flight (up to graceful_timeout seconds) and exits; only then are stragglers killed. Kubernetes waits
# terminationGracePeriodSeconds (deploy/: 30 s) for all of it, after the preStop pause.
graceful_timeout = 20


# --- Metrics: workers write samples to files in one directory; the master serves them on the metrics port.
def _metrics_directory() -> tuple[str, bool]:
    """``PROMETHEUS_MULTIPROC_DIR`` if set (emptied of an earlier run's files), else a new private temporary
    directory (removed at exit). Set in the environment before the app is loaded, so the workers inherit it;
    ``TMPDIR`` decides where (a writable volume under a read-only root filesystem)."""
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


_metrics_dir, _metrics_dir_is_ours = _metrics_directory()


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

    server_class = _MetricsServer6 if ":" in settings.host else _MetricsServer
    server = make_server(
        settings.host.strip("[]"),
        settings.metrics_port,
        metrics_wsgi_app(),
        server_class=server_class,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="dn-cds-metrics", daemon=True).start()
    logging.getLogger("gunicorn.error").info(
        "metrics on http://%s:%s/metrics", bracketed(settings.host), settings.metrics_port
    )
    return server


def when_ready(server: Any) -> None:
    """gunicorn hook (master, once listening): start the metrics listener."""
    start_metrics_listener(_settings)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master): a worker is gone; drop its live-gauge files (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """gunicorn hook (master, at exit): remove the metrics directory this configuration created."""
    if _metrics_dir_is_ours:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
