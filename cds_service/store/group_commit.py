"""Group commit: writes made at the same time share one transaction, so one commit (one fsync of the SQLite
WAL, one WAL flush on PostgreSQL) makes all of them durable.

Each caller still returns only once its own write is committed (the audit record is durable before the
answer leaves). The first caller to arrive leads: it takes every write waiting (up to ``max_batch``),
runs them in one transaction, each inside a savepoint so one failing write fails alone, commits, and wakes
their callers; writes that arrived meanwhile go in the next batch, led by the next caller in line.

Under gevent (the default ``serve`` worker) the transaction runs in gevent's pool of native threads: the
worker's other connections go on being served while the disk syncs, and they queue their own writes for the
next commit. Without gevent it runs in the caller's thread.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

_T = TypeVar("_T")


class _Write(Generic[_T]):
    __slots__ = ("done", "error", "result", "wake", "write")

    def __init__(self, write: Callable[[Connection], _T]) -> None:
        self.write = write
        self.wake = threading.Event()  # set when done, or when this caller must lead the next batch
        self.done = False
        self.result: _T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs writes (functions of a connection) in shared transactions; see the module docstring."""

    def __init__(self, engine: Engine, max_batch: int = 128) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: deque[_Write[Any]] = deque()
        self._mutex = threading.Lock()
        self._leading = False

    def run(self, write: Callable[[Connection], _T]) -> _T:
        """``write(connection)`` committed (possibly with others' writes); its result, or its error raised."""
        item: _Write[_T] = _Write(write)
        with self._mutex:
            self._pending.append(item)
            lead = not self._leading
            self._leading = True
        if not lead:
            item.wake.wait()
        if not item.done:  # first in line, or handed the lead by the previous leader
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]  # set by _commit when there is no error

    def _lead(self, mine: _Write[Any]) -> None:
        while not mine.done:
            with self._mutex:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
            _off_the_event_loop(self._commit, batch)
            for item in batch:
                if item is not mine:
                    item.wake.set()
        with self._mutex:
            if self._pending:
                self._pending[0].wake.set()  # its caller leads the next batch
            else:
                self._leading = False

    def _commit(self, batch: list[_Write[Any]]) -> None:
        try:
            with self.engine.begin() as connection:
                for item in batch:
                    if len(batch) == 1:
                        item.result = item.write(connection)
                        continue
                    savepoint = connection.begin_nested()
                    try:
                        item.result = item.write(connection)
                    except Exception as error:  # this write fails alone; the others go on
                        savepoint.rollback()
                        item.error = error
                    else:
                        savepoint.commit()
        except BaseException as error:  # the commit itself failed: none of the batch is durable
            for item in batch:
                item.result = None
                item.error = item.error or error
        finally:
            for item in batch:
                item.done = True


def _off_the_event_loop(function: Callable[[list[_Write[Any]]], None], batch: list[_Write[Any]]) -> None:
    """``function(batch)`` in a native thread when gevent has patched threading, else right here."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent import get_hub

        get_hub().threadpool.apply(function, (batch,))
    else:
        function(batch)
