"""JWT replay protection: each (issuer, jti) is accepted once, until the token expires.

Atomic across processes and machines: the key is the primary key of ``token_use``, and the insert is
``INSERT ... ON CONFLICT`` that only overwrites a row whose token has already expired. Expired rows are
deleted here at most once a minute per process, and by ``dn-cds purge``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete

from cds_service.store import schema
from cds_service.store.dialect import upsert
from cds_service.store.errors import store_errors
from cds_service.store.group_commit import GroupCommit

PURGE_INTERVAL = timedelta(minutes=1)


def utc_now() -> datetime:
    """The current instant (UTC)."""
    return datetime.now(UTC)


def token_key(issuer: str, jti: str) -> str:
    """A fixed-length key for (issuer, jti), unambiguous whatever characters either contains."""
    return hashlib.sha256(json.dumps([issuer, jti]).encode("utf-8")).hexdigest()


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
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        table = schema.token_use

        def claim(connection: Connection) -> bool:
            statement = upsert(connection, table).values(key=token_key(issuer, jti), expires_at=expires_at)
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"expires_at": statement.excluded.expires_at},
                where=table.c.expires_at < now,
            )
            return connection.execute(statement.returning(table.c.key)).first() is not None

        with store_errors("the token id"):
            first = self.group.run(claim)
        self._purge_expired(now)
        return first

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
