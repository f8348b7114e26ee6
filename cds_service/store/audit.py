"""The audit of hook calls: what the service advised, to whom (pseudonymised), on what evidence."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert

from cds_service.store import schema
from cds_service.store.errors import store_errors
from cds_service.store.group_commit import GroupCommit
from cds_service.store.replay import ReplayedToken


@dataclass(frozen=True, slots=True)
class AuditedCard:
    """One card as the audit keeps it: no wording, no patient data beyond resource references."""

    uuid: str
    finding_code: str
    indicator: str
    evidence: tuple[str, ...] = ()
    suggestions: tuple[str, ...] | None = None  # the suggestion uuids offered (None: not recorded)


@dataclass(frozen=True, slots=True)
class HookCallRecord:
    """One hook call. Fields the call never reached (a body that did not parse) are ``None``/empty."""

    called_at: datetime
    service_id: str
    status: int
    latency_ms: float
    hook: str | None = None
    hook_instance: str | None = None
    patient_pseudonym: str | None = None
    knowledge_version: str | None = None
    cards: Sequence[AuditedCard] = ()
    data_completeness: Mapping[str, Any] = field(default_factory=dict)
    issuer: str | None = None  # the verified token's iss (None without authentication)
    tenant: str | None = None

    @property
    def finding_codes(self) -> list[str]:
        """The finding codes of the cards, in card order."""
        return [card.finding_code for card in self.cards]


class AuditLog:
    """Writes hook call records; each call and its cards in one transaction (shared with the writes made at
    the same time: :class:`GroupCommit`), committed before :meth:`record` returns."""

    def __init__(self, engine: Engine, group: GroupCommit | None = None) -> None:
        self.engine = engine
        self.group = group or GroupCommit(engine)

    def record(self, call: HookCallRecord, token: Callable[[Connection], bool] | None = None) -> int:
        """Store ``call`` durably; return its id. Raises :class:`StoreUnavailable` when it cannot.

        ``token``, when given, claims the call's token id in the same transaction, first
        (:meth:`TokenReplayStore.claim`); when it returns False (another call claimed it) nothing is written
        and :class:`ReplayedToken` is raised."""

        def write(connection: Connection) -> int:
            if token is not None and not token(connection):
                raise ReplayedToken()
            return _insert_call(connection, call)

        with store_errors("the hook call"):
            return self.group.run(write)


# Built once: building a statement costs more than running it (every hook call runs both).
_INSERT_CALL = insert(schema.hook_call).returning(schema.hook_call.c.id)
_INSERT_CARD = insert(schema.card)


def _insert_call(connection: Connection, call: HookCallRecord) -> int:
    call_id: int = connection.execute(_INSERT_CALL, _call_row(call)).scalar_one()
    if call.cards:
        connection.execute(_INSERT_CARD, [_card_row(call_id, call, card) for card in call.cards])
    return call_id


def _call_row(call: HookCallRecord) -> dict[str, Any]:
    return {
        "called_at": call.called_at,
        "service_id": call.service_id,
        "hook": call.hook,
        "hook_instance": call.hook_instance,
        "patient_pseudonym": call.patient_pseudonym,
        "status": call.status,
        "finding_codes": call.finding_codes,
        "knowledge_version": call.knowledge_version,
        "data_completeness": dict(call.data_completeness),
        "latency_ms": round(call.latency_ms, 3),
    }


def _card_row(call_id: int, call: HookCallRecord, card: AuditedCard) -> dict[str, Any]:
    return {
        "hook_call_id": call_id,
        "service_id": call.service_id,
        "card_uuid": card.uuid,
        "finding_code": card.finding_code,
        "indicator": card.indicator,
        "evidence": list(card.evidence),
        "issuer": call.issuer,
        "tenant": call.tenant,
        "suggestions": None if card.suggestions is None else list(card.suggestions),
    }
