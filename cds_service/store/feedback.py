"""Feedback on cards, linked to the audited card and stored idempotently.

The identity of one piece of feedback is (service, card uuid, outcome, outcomeTimestamp): an EHR that resends
a body after a lost acknowledgement does not create a second row, and the first submission wins. The same card
may still get several outcomes (CDS Hooks lets a card be reported more than once), each with its own time.
A body is stored whole or not at all: if any entry names a card this service never issued to this caller (the
token's issuer and tenant), nothing is stored and the answer is 404 naming that entry; if an entry accepts a
suggestion the card never offered, 400 naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select

from cds_service.feedback import FeedbackEntry, outcome_instant
from cds_service.store import schema
from cds_service.store.dialect import upsert
from cds_service.store.errors import UnknownCard, UnknownSuggestion, store_errors

_IDENTITY = ["service_id", "card_uuid", "outcome", "outcome_timestamp"]


class FeedbackLog:
    """Writes feedback entries; a whole body in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(
        self,
        service_id: str,
        entries: Sequence[FeedbackEntry],
        received_at: datetime,
        *,
        issuer: str | None = None,
        tenant: str | None = None,
    ) -> int:
        """Store ``entries`` durably; return how many were new (the rest were resubmissions).

        Only cards returned to ``issuer`` and ``tenant`` (the verified caller; ``None`` without
        authentication) can be named: another caller's card is unknown to this one. An accepted suggestion
        must be one the card offered. Raises :class:`UnknownCard` or :class:`UnknownSuggestion` (nothing
        stored), or :class:`StoreUnavailable`.
        """
        new = 0
        with store_errors("the feedback"), self.engine.begin() as connection:
            cards = schema.card.c
            uuids = sorted({entry.card for entry in entries})
            found = connection.execute(
                select(cards.card_uuid, cards.id, cards.suggestions)
                .where(
                    cards.service_id == service_id,
                    cards.card_uuid.in_(uuids),
                    cards.issuer.is_(None) if issuer is None else cards.issuer == issuer,
                    cards.tenant.is_(None) if tenant is None else cards.tenant == tenant,
                )
                .order_by(cards.id)
            )
            known: dict[str, tuple[int, list[str] | None]] = {}
            for uuid, card_id, offered in found:
                known.setdefault(uuid, (card_id, offered))
            for index, entry in enumerate(entries):
                if entry.card not in known:
                    raise UnknownCard(
                        f"feedback[{index}].card is not a card this service issued (or it was purged).",
                        expression=f"feedback[{index}].card",
                    )
                _check_suggestions(entry, known[entry.card][1], index)
            card_ids = {uuid: card_id for uuid, (card_id, _) in known.items()}
            for entry in entries:
                statement = (
                    upsert(connection, schema.feedback)
                    .on_conflict_do_nothing(index_elements=_IDENTITY)
                    .returning(schema.feedback.c.id)  # a row only when inserted (rowcount is not portable)
                )
                result = connection.execute(
                    statement, _row(service_id, card_ids[entry.card], entry, received_at)
                )
                new += len(result.all())
        return new


def _check_suggestions(entry: FeedbackEntry, offered: list[str] | None, index: int) -> None:
    if offered is None:  # a card audited before suggestions were recorded
        return
    for position, suggestion in enumerate(entry.accepted_suggestions):
        if suggestion not in offered:
            path = f"feedback[{index}].acceptedSuggestions[{position}].id"
            raise UnknownSuggestion(f"{path} is not a suggestion of this card.", expression=path)


def _row(service_id: str, card_id: int, entry: FeedbackEntry, received_at: datetime) -> dict[str, object]:
    system, code = entry.override_code if entry.override_code else (None, None)
    return {
        "card_id": card_id,
        "received_at": received_at,
        "service_id": service_id,
        "card_uuid": entry.card,
        "outcome": entry.outcome,
        "outcome_timestamp": outcome_instant(entry),
        "accepted_suggestions": list(entry.accepted_suggestions),
        "override_reason_system": system,
        "override_reason_code": code,
        "override_comment": entry.override_comment,
    }
