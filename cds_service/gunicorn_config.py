"""gunicorn settings, from the same ``DN_CDS_*`` variables as the service (used by Docker and ``serve``).

Serving model (measured in BENCHMARKS.md; sizing rule in the README): ``DN_CDS_WORKERS`` processes (one per
core), each a gevent worker. A hook call's evaluation is CPU-bound, so one process per core gets the cores
without threads contending for the GIL; everything that waits (reading a request from a slow client, an idle
keep-alive connection, a fallback read from ``fhirServer``, a JWKS fetch, a PostgreSQL round trip) waits in
a greenlet that costs a few kilobytes, not in one of a handful of threads, so idle or trickling connections
cannot starve real calls. gevent must patch the standard library before gunicorn, requests, SQLAlchemy or the
preloaded app create a socket, lock or SSL context: run gunicorn as
``python -m gevent.monkey --module gunicorn`` (``dn-cds serve`` and the Dockerfile do).
"""

import gc
import sys
from typing import Any

from cds_service import metrics_listener
from cds_service.settings import Settings

_settings = Settings.from_env()

bind = _settings.bind
workers = _settings.workers
preload_app = True  # load and check the knowledge once, in the master, before forking
worker_class = "gevent"
worker_connections = 1000  # open connections per worker (greenlets); beyond it the worker stops accepting
# The request line and headers must arrive within this many seconds (gevent worker), and a kept-alive
# connection is closed after this long idle: a client trickling its headers is dropped, not waited for.
keepalive = 5
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
    """gunicorn hook (master, once listening): freeze the preloaded app, start the metrics listener, then
    announce the service (only now: a taken port must not look like success).

    The preloaded app (knowledge, value sets, wording) lives as long as the process: gc.freeze() moves it out
    of the garbage collector's sight before forking, so collections in the workers do not walk it on every
    hook call (and do not touch its pages, which stay shared between the workers)."""
    gc.freeze()
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


def pre_request(worker: object, req: object) -> None:
    """Let every other connection of this worker take its turn before a request is evaluated.

    A gevent worker reads the next request of a kept-alive connection without yielding when its bytes are
    already there, so a busy client could be served request after request while others wait (at 50
    connections: a fine median, a p99 of seconds). Waiting for the event loop to go idle first serves
    requests roughly in arrival order."""
    import gevent
    from gevent import monkey

    if monkey.is_module_patched("socket"):  # a gevent worker (GUNICORN_CMD_ARGS may choose another class)
        gevent.idle()
