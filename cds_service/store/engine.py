"""The database engine: PostgreSQL from ``DN_CDS_DATABASE_URL``, else an SQLite file under the data directory.

SQLite choices (the embedded default, one machine, several gunicorn workers):

- ``journal_mode=WAL``: readers never block the writer and the writer never blocks readers.
- ``synchronous=FULL``: the WAL is fsynced at every commit, so an acknowledged write survives a power cut, not
  only a crash of the service (``NORMAL`` would only survive a process crash). The cost is one fsync per
  transaction, measured by ``scripts/benchmark_store.py``.
- Every write transaction starts with ``BEGIN IMMEDIATE`` and waits up to ``busy_timeout`` for the write lock:
  a deferred transaction that reads and then writes can fail at once with "database is locked" when another
  process writes in between, whatever the timeout; an immediate one queues instead.
- ``foreign_keys=ON``: purging a hook call removes its cards and their feedback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

security_log = logging.getLogger("dn_cds.security")
SQLITE_FILE_NAME = "dn-cds.sqlite3"
BUSY_TIMEOUT_MS = 10_000  # well under gunicorn's 30 s worker timeout, far above a commit's few milliseconds
# Statement parameters hold pseudonyms, evidence references and clinicians' free-text comments: never in
# SQLAlchemy's log (should someone turn it on) or in its exception messages.
HIDE_PARAMETERS = True
READ_ONLY = "dn_cds_read_only"  # execution option: a deferred (shared) transaction on SQLite


def database_url(configured: str, data_dir: Path) -> URL:
    """The configured URL (``postgresql://`` is run with psycopg 3), else the SQLite file in ``data_dir``."""
    if not configured:
        return URL.create("sqlite+pysqlite", database=str(data_dir / SQLITE_FILE_NAME))
    url = make_url(configured)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    return url


def create_store_engine(url: URL) -> Engine:
    """An engine for ``url`` with the settings above; its pool is discarded in forked children."""
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    else:
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=HIDE_PARAMETERS
        )
    _forget_connections_after_fork(engine)
    return engine


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite store."""
    return engine.dialect.name == "sqlite"


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in {None, "", ":memory:"}
    if not memory:
        private_database_file(Path(str(url.database)))
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        hide_parameters=HIDE_PARAMETERS,
        **({"poolclass": StaticPool} if memory else {}),
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def private_database_file(database: Path) -> None:
    """Make the SQLite file (and its ``-wal``/``-shm``, which SQLite creates with the database file's mode)
    readable by the service's user only, whatever the umask; warn when the directory is open to others.

    The directory is created 0700 when missing; one that already exists (a container's ``mkdir -p``) keeps
    its mode, so the files themselves must be 0600: they hold the audit (section 7 of SECURITY.md)."""
    directory = database.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)  # holds the keys too
    mode = directory.stat().st_mode & 0o777
    if mode & 0o077:
        security_log.warning(
            "the data directory %s has mode %04o: other users may list it; chmod 700 it (its files are 0600)",
            directory,
            mode,
            extra={"event": "data-dir-open", "mode": f"{mode:04o}"},
        )
    # Created exclusively, never opened when it exists: closing any descriptor of a file drops this process's
    # POSIX locks on it, SQLite's included (another engine in this process may hold the database open).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (
        database,
        *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", ".migrate-lock")),
    ):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)  # a file an earlier version created with the umask's mode


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Any) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _forget_connections_after_fork(engine: Engine) -> None:
    """A forked gunicorn worker must not reuse the master's connections (sockets, SQLite file locks)."""
    reference = weakref.ref(engine)

    def forget() -> None:
        alive = reference()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=forget)
