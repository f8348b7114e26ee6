"""Readiness: may this process take hook calls now? Its knowledge is loaded and its store answers in time.

``/healthz`` is liveness (the process answers HTTP; restarting it would not help a database that is down);
``/readyz`` is readiness (a load balancer or Kubernetes sends no calls to an instance that is not ready: every
hook call writes an audit record, so an instance whose store cannot be reached can only answer 503).

The store is asked a trivial query (``SELECT 1``) in a per-process background thread, and the answer waited
for at most ``DN_CDS_READINESS_TIMEOUT_SECONDS``: a database that hangs (a dropped network, a full connection
queue) makes the check fail on time instead of holding a worker. While an earlier query is still stuck, later
checks fail at once rather than pile up more threads.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from cds_service.store.engine import READ_ONLY

log = logging.getLogger("dn_cds.readiness")


@dataclass(frozen=True, slots=True)
class Readiness:
    """One check's outcome; ``cause`` is a fixed word (``store-error``, ``store-timeout``) when not ready."""

    ready: bool
    cause: str | None = None


class StoreProbe:
    """Asks the store ``SELECT 1`` within ``timeout_seconds``, from one background thread per process."""

    def __init__(self, engine: Engine, timeout_seconds: float) -> None:
        self.engine = engine
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self._pending: Future[None] | None = None

    def check(self) -> Readiness:
        """Ready when the query returns within the deadline."""
        with self._lock:
            if self._pending is not None and not self._pending.done():
                return Readiness(False, "store-timeout")  # the previous query has not come back yet
            future = self._pool().submit(self._ask)
            self._pending = future
        try:
            future.result(timeout=self.timeout_seconds)
        except FutureTimeout:
            log.warning("readiness: the store did not answer within %g s", self.timeout_seconds)
            return Readiness(False, "store-timeout")
        except SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            log.warning("readiness: the store is unavailable (%s)", type(cause).__name__)  # never the message
            return Readiness(False, "store-error")
        return Readiness(True)

    def _ask(self) -> None:
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True}).execute(text("SELECT 1")).scalar_one()

    def _pool(self) -> ThreadPoolExecutor:
        """This process's thread (made lazily, and again after a fork: threads do not survive one)."""
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="dn-cds-readiness")
            self._pid = os.getpid()
            self._pending = None
        return self._executor
