"""The store's tables (SQLAlchemy Core). The DDL itself lives in the versioned migrations (``migrations/``);
a test checks that the migrated database matches these definitions.

- ``hook_call``: one row per hook call to a known service (the audit record);
- ``card``: the cards that call returned (finding code, card uuid, evidence references, suggestion uuids) and
  the issuer and tenant they were returned to;
- ``feedback``: the clinician's outcome per card, linked to the audited card;
- ``token_use``: JWT ids already seen, until the token expires (replay protection).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC instant: ``timestamptz`` on PostgreSQL, UTC text on SQLite; always read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


hook_call = Table(
    "hook_call",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("called_at", UtcDateTime(), nullable=False, index=True),
    Column("service_id", String(128), nullable=False),
    Column("hook", String(64)),
    Column("hook_instance", String(64)),
    Column("patient_pseudonym", String(64)),
    Column("status", Integer, nullable=False),
    Column("finding_codes", JSON, nullable=False),
    Column("knowledge_version", String(64)),
    Column("data_completeness", JSON, nullable=False),
    Column("latency_ms", Float, nullable=False),
)

card = Table(
    "card",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("hook_call_id", Id, ForeignKey("hook_call.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("service_id", String(128), nullable=False),
    Column("card_uuid", String(64), nullable=False),
    Column("finding_code", String(128), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("evidence", JSON, nullable=False),
    # Who got the card (the verified token's iss and tenant; NULL with DN_CDS_AUTH=off): only they may give
    # feedback on it. The suggestion uuids it offered (NULL for cards audited before revision 0002).
    Column("issuer", Text),
    Column("tenant", Text),
    Column("suggestions", JSON(none_as_null=True)),
    Index("ix_card_card_uuid_service_id", "card_uuid", "service_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("card_id", Id, ForeignKey("card.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("service_id", String(128), nullable=False),
    Column("card_uuid", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", UtcDateTime(), nullable=False),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_reason_system", String(512)),
    Column("override_reason_code", String(128)),
    Column("override_comment", Text),
    # The identity of one piece of feedback: a client retrying after a lost acknowledgement resends it.
    UniqueConstraint("service_id", "card_uuid", "outcome", "outcome_timestamp"),
)

token_use = Table(
    "token_use",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of (issuer, jti): fixed length, any input
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)
