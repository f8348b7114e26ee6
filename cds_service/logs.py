"""Process-wide log setup for the server: one JSON object per line on stderr.

The service logs request metadata only (method, path, status, service id, hook, hookInstance, latency, the
token's issuer and tenant, and a pseudonym of the patient id); never request bodies, patient resources,
codes, the JWT or the ``fhirAuthorization`` access token. Exceptions are logged by type and place, without
their message (which could quote patient data).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PSEUDONYM_KEY_FILE = "log-pseudonym.key"
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
log = logging.getLogger("dn_cds.security")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields}`` as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
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
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    """Send the service's ``dn_cds.*`` loggers to stderr at ``level``, as JSON lines (idempotent)."""
    logger = logging.getLogger("dn_cds")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False


def pseudonym_key(data_dir: Path) -> bytes:
    """The secret that keys patient-id pseudonyms: kept in ``data_dir`` (0600) so pseudonyms stay stable
    across restarts and workers; a per-process one when the directory is not writable."""
    path = data_dir / PSEUDONYM_KEY_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        key = path.read_bytes()
        if len(key) >= 16:
            return key
    except OSError:
        pass
    log.warning(
        "cannot keep %s; patient pseudonyms change at restart", path, extra={"event": "pseudonym-key"}
    )
    return secrets.token_bytes(32)


def pseudonym(value: str, key: bytes) -> str:
    """A stable, non-reversible stand-in for a patient id (HMAC-SHA256, 16 hex digits)."""
    return "p-" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
