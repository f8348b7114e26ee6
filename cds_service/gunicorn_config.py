"""gunicorn settings, from the same ``DN_CDS_*`` variables as the service (used by Docker and ``serve``)."""

from cds_service.settings import Settings

_settings = Settings.from_env()

bind = _settings.bind
workers = _settings.workers
preload_app = True  # load and check the knowledge once, in the master, before forking
worker_class = "gthread"
threads = 4
timeout = 30  # seconds: well above the CDS Hooks ~500 ms budget, below typical proxy timeouts
graceful_timeout = 10
accesslog = None  # the app writes its own PHI-free access log
errorlog = "-"
loglevel = _settings.log_level.lower()
limit_request_line = 8190
forwarded_allow_ips = "127.0.0.1"
# gunicorn >= 25 opens a control socket under $HOME or the working directory, which a read-only,
# non-root container cannot write; the service does not use it.
control_socket_disable = True


def when_ready(server: object) -> None:
    """Announce the service once gunicorn listens (not before: a taken port must not look like success)."""
    import sys

    url = _settings.base_url
    sys.stderr.write(f"dn-cds: serving {url}/cds-services  (try: dn-cds demo --url {url})\n")
    sys.stderr.flush()
