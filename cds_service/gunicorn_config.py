"""gunicorn settings, from the same ``DN_CDS_*`` variables as the service (used by Docker and ``serve``)."""

import sys
from typing import Any

from cds_service import metrics_listener
from cds_service.settings import Settings

_settings = Settings.from_env()

bind = _settings.bind
workers = _settings.workers
preload_app = True  # load and check the knowledge once, in the master, before forking
worker_class = "gthread"
threads = 4
timeout = 30  # seconds: well above the CDS Hooks ~500 ms budget, below typical proxy timeouts
graceful_timeout = 20  # see "Graceful shutdown" below
accesslog = None  # the app writes its own PHI-free access log
errorlog = "-"
loglevel = _settings.log_level.lower()
logger_class = "cds_service.logs.GunicornJsonLogger"  # gunicorn's own lines as JSON, like the service's
limit_request_line = 8190
forwarded_allow_ips = "127.0.0.1"
# gunicorn >= 25 opens a control socket under $HOME or the working directory, which a read-only,
# non-root container cannot write; the service does not use it.
control_socket_disable = True

# --- Graceful shutdown. On SIGTERM the master stops accepting, each worker finishes the calls it has in
# flight (up to graceful_timeout seconds) and exits; only then are stragglers killed. Kubernetes waits
# terminationGracePeriodSeconds (deploy/kubernetes: 35 s) for it, after the preStop pause (5 s).

# --- Metrics (DN_CDS_METRICS_PORT): the multiprocess directory is named before the app is loaded.
_metrics_dir, _metrics_dir_is_ours = metrics_listener.prepare_multiprocess_dir()


def when_ready(server: Any) -> None:
    """gunicorn hook (master, once listening): start the metrics listener, then announce the service (only
    now: a taken port must not look like success)."""
    metrics_listener.start_metrics_listener(_settings)
    url = _settings.base_url
    sys.stderr.write(f"dn-cds: serving {url}/cds-services  (try: dn-cds demo --url {url})\n")
    sys.stderr.flush()


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master): a worker is gone."""
    metrics_listener.forget_worker(worker.pid, _metrics_dir)


def on_exit(server: Any) -> None:
    """gunicorn hook (master, at exit): remove the metrics directory this configuration created."""
    if _metrics_dir_is_ours:
        metrics_listener.remove_multiprocess_dir(_metrics_dir)
