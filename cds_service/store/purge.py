"""Retention: delete audit records (hook calls, their cards and the feedback on them) older than a cut-off,
and the ids of JWTs that have expired.

Deletes run in batches, each its own short transaction, so a purge of a large store never holds the SQLite
write lock for long: the service keeps answering while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select

from cds_service.store import schema
from cds_service.store.engine import READ_ONLY

BATCH = 2000


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """How many rows were (or, in a dry run, would be) deleted."""

    hook_calls: int
    cards: int
    feedback: int
    token_ids: int


def purge(engine: Engine, before: datetime, now: datetime, *, dry_run: bool = False) -> PurgeResult:
    """Delete hook calls made before ``before`` (with their cards and feedback) and tokens expired by ``now``.

    Returns the counts; ``dry_run`` only counts."""
    if dry_run:
        return _count(engine, before, now)
    calls = cards = feedback = 0
    hook_call, card, fb = schema.hook_call.c, schema.card.c, schema.feedback.c
    while True:
        with engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(hook_call.id)
                    .where(hook_call.called_at < before)
                    .order_by(hook_call.id)
                    .limit(BATCH)
                ).scalars()
            )
            if not ids:
                break
            card_ids = select(card.id).where(card.hook_call_id.in_(ids))
            feedback += connection.execute(delete(schema.feedback).where(fb.card_id.in_(card_ids))).rowcount
            cards += connection.execute(delete(schema.card).where(card.hook_call_id.in_(ids))).rowcount
            calls += connection.execute(delete(schema.hook_call).where(hook_call.id.in_(ids))).rowcount
    with engine.begin() as connection:
        tokens = connection.execute(
            delete(schema.token_use).where(schema.token_use.c.expires_at < now)
        ).rowcount
    return PurgeResult(calls, cards, feedback, tokens)


def _count(engine: Engine, before: datetime, now: datetime) -> PurgeResult:
    hook_call, card, fb = schema.hook_call.c, schema.card.c, schema.feedback.c
    old_calls = select(hook_call.id).where(hook_call.called_at < before)
    old_cards = select(card.id).where(card.hook_call_id.in_(old_calls))
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return PurgeResult(
            hook_calls=connection.execute(
                select(func.count()).select_from(old_calls.subquery())
            ).scalar_one(),
            cards=connection.execute(select(func.count()).select_from(old_cards.subquery())).scalar_one(),
            feedback=connection.execute(
                select(func.count()).select_from(schema.feedback).where(fb.card_id.in_(old_cards))
            ).scalar_one(),
            token_ids=connection.execute(
                select(func.count()).select_from(schema.token_use).where(schema.token_use.c.expires_at < now)
            ).scalar_one(),
        )
