"""The durable store: audit of hook calls, feedback on cards, JWT replay protection (SQLAlchemy Core).

SQLite (WAL) in the data directory by default; PostgreSQL when ``DN_CDS_DATABASE_URL`` names one. The schema
is versioned with Alembic (``migrations/``) and brought up to date when the store is opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.settings import Settings, SettingsError
from cds_service.store.audit import AuditedCard, AuditLog, HookCallRecord
from cds_service.store.engine import create_store_engine, database_url, is_sqlite
from cds_service.store.errors import StoreUnavailable, UnknownCard
from cds_service.store.feedback import FeedbackLog
from cds_service.store.group_commit import GroupCommit
from cds_service.store.migrate import upgrade
from cds_service.store.pseudonym import Pseudonymizer, key_from_file
from cds_service.store.replay import TokenReplayStore

__all__ = [
    "AuditLog",
    "AuditedCard",
    "FeedbackLog",
    "HookCallRecord",
    "Pseudonymizer",
    "Store",
    "StoreUnavailable",
    "TokenReplayStore",
    "UnknownCard",
    "open_store",
]


@dataclass(frozen=True, slots=True)
class Store:
    """The engine and the tables' writers, sharing one connection pool."""

    engine: Engine
    pseudonymizer: Pseudonymizer = field(repr=False)
    audit: AuditLog = field(init=False)
    feedback: FeedbackLog = field(init=False)
    replay: TokenReplayStore = field(init=False)

    def __post_init__(self) -> None:
        group = GroupCommit(self.engine)  # audit records and token ids written together share commits
        object.__setattr__(self, "audit", AuditLog(self.engine, group))
        object.__setattr__(self, "feedback", FeedbackLog(self.engine))
        object.__setattr__(self, "replay", TokenReplayStore(self.engine, group=group))

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store the settings name, its schema migrated to the newest version (unless ``migrate=False``).

    The pool is emptied after migrating, so a process that forks next (the gunicorn master) hands no open
    connection to its workers.
    """
    try:
        engine = create_store_engine(database_url(settings.database_url, settings.data_dir))
        sqlite = is_sqlite(engine)
        key = settings.pseudonym_key.encode("utf-8") if settings.pseudonym_key else None
        if key is None and sqlite:
            key = key_from_file(settings.data_dir)
    except OSError as error:
        raise SettingsError(
            f"DN_CDS_DATA_DIR ({settings.data_dir}) cannot hold the store: {error.strerror or error}"
        ) from None
    if key is None:
        engine.dispose()
        raise SettingsError(
            "DN_CDS_PSEUDONYM_KEY must be set with DN_CDS_DATABASE_URL: every instance sharing the database"
            " must pseudonymise patients with the same key"
        )
    if migrate:
        try:
            upgrade(engine)
        except SQLAlchemyError as error:
            engine.dispose()
            cause = type(
                getattr(error, "orig", None) or error
            ).__name__  # never the URL: it may hold a password
            raise SettingsError(
                f"the store could not be opened or migrated ({cause}); check DN_CDS_DATABASE_URL (or"
                " DN_CDS_DATA_DIR for the embedded SQLite file) and that the database accepts connections"
            ) from None
        engine.dispose()
    return Store(engine, Pseudonymizer(key))
