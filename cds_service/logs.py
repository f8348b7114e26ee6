"""Process-wide log setup for the server: one JSON object per line on stderr.

The service logs request metadata only (method, path, status, service id, hook, hookInstance, latency, the
token's issuer and tenant, and the patient id's keyed pseudonym, the same one the audit stores, see
:mod:`cds_service.store.pseudonym`); never request bodies, patient resources, codes, the JWT or the
``fhirAuthorization`` access token. Exceptions are logged by type and place, without their message (which
could quote patient data). Every line names the process (``pid``), so a line can be told to a gunicorn worker.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields}`` as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = (
                    value if isinstance(value, str | int | float | bool | type(None)) else str(value)
                )
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            frames = traceback.extract_tb(error.__traceback__)
            entry["exception"] = type(error).__name__  # never str(error): it may quote patient data
            entry["at"] = [f"{Path(frame.filename).name}:{frame.lineno}" for frame in frames[-5:]]
        # ASCII only: a caller's U+2028, U+0085 or U+202E (in an iss or a path) stays an escape, never a raw
        # line break or a bidi override in whatever displays the log.
        return json.dumps(entry, ensure_ascii=True, default=str)


def configure_logging(level: str) -> None:
    """Send the service's ``dn_cds.*`` loggers to stderr at ``level``, as JSON lines (idempotent)."""
    logger = logging.getLogger("dn_cds")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False


class GunicornJsonLogger(GunicornLogger):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's own log (``gunicorn.error``: start, workers booting and exiting, timeouts) and, when it is
    turned on, its access log, as the same JSON lines as the service's. The access line keeps the method, the
    path without its query string, the status and the latency: never headers or bodies."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's handlers, each with :class:`JsonFormatter`."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One JSON line per request (only when gunicorn's access log is configured)."""
        if not self.access_log.handlers:
            return
        path = str(environ.get("PATH_INFO", ""))[:200]
        method = str(environ.get("REQUEST_METHOD", ""))
        status = getattr(resp, "status_code", None) or str(getattr(resp, "status", "")).split(" ")[0]
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "event": "gunicorn-access",
                "method": method,
                "path": path,
                "status": status,
                "latency_ms": round(request_time.total_seconds() * 1000, 1),
            },
        )
