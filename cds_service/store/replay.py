"""JWT replay protection: each (issuer, jti) is accepted once, until the token expires.

Atomic across processes and machines: the key is the primary key of ``token_use``, and the insert is
``INSERT ... ON CONFLICT`` that only overwrites a row whose token has already expired. Expired rows are
deleted here at most once a minute per process, and by ``dn-cds purge``.

Two ways to claim a token id: :meth:`TokenReplayStore.first_use`, a commit of its own (discovery, feedback,
other guards' callers), and :meth:`TokenReplayStore.claim`, a write in someone else's transaction: a hook
call claims its token in the transaction of its audit record, after evaluation, so the call costs one commit
(the claim refused, nothing of that transaction is kept and the caller gets 401 instead of cards). Before
evaluating, :meth:`TokenReplayStore.seen` (a read, no commit) refuses a token already claimed, so a replay is
not evaluated unless it arrives while the first use is still being evaluated.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select

from cds_service.store import schema
from cds_service.store.dialect import upsert
from cds_service.store.engine import READ_ONLY
from cds_service.store.errors import store_errors
from cds_service.store.group_commit import GroupCommit

PURGE_INTERVAL = timedelta(minutes=1)


def utc_now() -> datetime:
    """The current instant (UTC)."""
    return datetime.now(UTC)


def token_key(issuer: str, jti: str) -> str:
    """A fixed-length key for (issuer, jti), unambiguous whatever characters either contains."""
    return hashlib.sha256(json.dumps([issuer, jti]).encode("utf-8")).hexdigest()


class ReplayedToken(Exception):
    """The token id was claimed by another call first (a replay): refused with 401, nothing written."""


class TokenReplayStore:
    """A ``replay_guard`` for JWT checks, backed by the store's database."""

    def __init__(
        self, engine: Engine, now: Callable[[], datetime] = utc_now, group: GroupCommit | None = None
    ) -> None:
        self.engine = engine
        self.group = group or GroupCommit(engine)  # shares commits with the audit records written meanwhile
        self.now = now
        self._next_purge = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def first_use(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """True the first time (issuer, jti) is seen while unexpired; False on replay.

        Raises :class:`StoreUnavailable` when the database cannot be written (refuse the token, then).
        """
        now = self.now()
        with store_errors("the token id"):
            first = self.group.run(lambda connection: self.claim(connection, issuer, jti, expires_at, now))
        self._purge_expired(now)
        return first

    def claim(
        self, connection: Connection, issuer: str, jti: str, expires_at: datetime, now: datetime | None = None
    ) -> bool:
        """In the caller's transaction: record (issuer, jti) until ``expires_at``; False if it is already
        recorded and unexpired (a replay). Durable, and refusing every later claim, once that transaction
        commits; a concurrent claim of the same pair waits for it (PostgreSQL) or for the write lock
        (SQLite)."""
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        parameters = {"key": token_key(issuer, jti), "expires_at": expires_at, "now": now or self.now()}
        return connection.execute(_claim_statement(connection), parameters).first() is not None

    def seen(self, issuer: str, jti: str) -> bool:
        """True when (issuer, jti) is recorded and unexpired (a read: no commit, no lock held). A claim still
        uncommitted is not seen: only :meth:`claim` decides. A read-only transaction: on SQLite it takes no
        write lock, so it never waits behind a commit in progress (nor blocks the event loop meanwhile)."""
        with (
            store_errors("the token id"),
            self.engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            found = connection.execute(_SEEN, {"key": token_key(issuer, jti), "now": self.now()}).first()
        return found is not None

    def purge_if_due(self) -> None:
        """Delete expired rows, at most once a minute per process (after a claim made by :meth:`claim`)."""
        self._purge_expired(self.now())

    def purge_expired(self) -> int:
        """Delete the rows of tokens that have expired; return how many."""
        with store_errors("purging token ids"), self.engine.begin() as connection:
            result = connection.execute(
                delete(schema.token_use).where(schema.token_use.c.expires_at < self.now())
            )
        return result.rowcount

    def _purge_expired(self, now: datetime) -> None:
        with self._lock:
            if now < self._next_purge:
                return
            self._next_purge = now + PURGE_INTERVAL
        self.purge_expired()


# The statements are built once (with bound parameters): building one costs more than running it.
_SEEN = select(schema.token_use.c.key).where(
    schema.token_use.c.key == bindparam("key"), schema.token_use.c.expires_at >= bindparam("now")
)
_CLAIMS: dict[str, Any] = {}


def _claim_statement(connection: Connection) -> Any:
    """``INSERT ... ON CONFLICT`` that creates the row, or takes over the row of an expired token, and returns
    the key only then (parameters ``key``, ``expires_at``, ``now``), for the connection's dialect."""
    dialect = connection.dialect.name
    statement = _CLAIMS.get(dialect)
    if statement is None:
        table = schema.token_use
        insert = upsert(connection, table).values(key=bindparam("key"), expires_at=bindparam("expires_at"))
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"expires_at": insert.excluded.expires_at},
            where=table.c.expires_at < bindparam("now"),
        ).returning(table.c.key)
        _CLAIMS[dialect] = statement
    return statement
