"""Process-wide log setup for the server: one line per record on stderr.

The service logs request metadata only (method, path, status, service id, hookInstance, latency); never
request bodies, patient resources or tokens.
"""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """Send the service's ``dn_cds.*`` loggers to stderr at ``level`` (idempotent)."""
    logger = logging.getLogger("dn_cds")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
