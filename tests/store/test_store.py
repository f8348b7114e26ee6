"""The store, run on SQLite and on a real PostgreSQL server (the same tests, parametrised by ``store``)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select
from support.store_fixtures import PSEUDONYM_KEY

from cds_service.feedback import FeedbackEntry
from cds_service.settings import Settings
from cds_service.store import (
    AuditedCard,
    HookCallRecord,
    Store,
    StoreUnavailable,
    TokenReplayStore,
    UnknownCard,
    open_store,
    schema,
)
from cds_service.store.engine import create_store_engine
from cds_service.store.migrate import current_revision, head_revision, upgrade
from cds_service.store.purge import purge
from cds_service.store.report import build_report

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SERVICE = "dry-needling-order-select"


def call(store: Store, *cards: AuditedCard, at: datetime = T0, status: int = 200) -> int:
    record = HookCallRecord(
        called_at=at,
        service_id=SERVICE,
        status=status,
        latency_ms=12.5,
        hook="order-select",
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        patient_pseudonym=store.pseudonymizer.pseudonym("patient-123"),
        knowledge_version="2026.11.0",
        cards=cards,
        data_completeness={"conditions": "failed"},
    )
    return store.audit.record(record)


def entry(
    card: str, outcome: str = "overridden", at: str = "2026-11-02T09:01:00Z", **kw: object
) -> FeedbackEntry:
    values: dict[str, object] = {
        "card": card,
        "outcome": outcome,
        "accepted_suggestions": ("s1",) if outcome == "accepted" else (),
        "override_code": ("urn:dn-cds:CodeSystem/override-reason", "data-incorrect")
        if outcome == "overridden"
        else None,
        "override_comment": None,
        "outcome_timestamp": at,
    }
    values.update(kw)
    return FeedbackEntry(**values)  # type: ignore[arg-type]


def count(store: Store, table: object) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


# --- schema -------------------------------------------------------------------------------------------------


def test_migrations_build_exactly_the_declared_schema(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert differences == []
    assert set(inspect(store.engine).get_table_names()) >= {"hook_call", "card", "feedback", "token_use"}


def test_opening_again_migrates_nothing_and_keeps_the_data(store_settings: Settings, store: Store) -> None:
    call(store, AuditedCard("c-1", "local-infection", "critical"))

    again = open_store(store_settings)
    try:
        assert count(again, schema.hook_call) == 1
        assert current_revision(again.engine) == head_revision()
    finally:
        again.close()


def test_servers_starting_together_migrate_once(store_settings: Settings) -> None:
    stores = [open_store(store_settings, migrate=False) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda s: upgrade(s.engine), stores))
        assert current_revision(stores[0].engine) == head_revision()
    finally:
        for opened in stores:
            opened.close()


# --- audit --------------------------------------------------------------------------------------------------


def test_a_hook_call_is_recorded_with_its_cards(store: Store) -> None:
    cards = (
        AuditedCard("c-1", "local-infection", "critical", ("Condition/abc",)),
        AuditedCard("c-2", "risk-disclosure", "info"),
    )
    call_id = call(store, *cards)

    with store.engine.connect() as connection:
        row = connection.execute(select(schema.hook_call).where(schema.hook_call.c.id == call_id)).one()
        card_rows = connection.execute(select(schema.card).order_by(schema.card.c.id)).all()
    assert row.called_at == T0
    assert row.finding_codes == ["local-infection", "risk-disclosure"]
    assert row.data_completeness == {"conditions": "failed"}
    assert row.knowledge_version == "2026.11.0"
    assert row.status == 200
    expected = hmac.new(PSEUDONYM_KEY.encode(), b"patient-123", hashlib.sha256).hexdigest()
    assert row.patient_pseudonym == expected
    assert "patient-123" not in repr(tuple(row))
    assert [(c.card_uuid, c.finding_code, c.evidence) for c in card_rows] == [
        ("c-1", "local-infection", ["Condition/abc"]),
        ("c-2", "risk-disclosure", []),
    ]


def test_a_call_that_failed_is_recorded_without_cards(store: Store) -> None:
    store.audit.record(HookCallRecord(T0, SERVICE, 400, 0.4))

    assert count(store, schema.hook_call) == 1
    assert count(store, schema.card) == 0


def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(StoreUnavailable):
        store.audit.record(HookCallRecord(datetime(2026, 11, 2), SERVICE, 200, 1.0))


# --- feedback -----------------------------------------------------------------------------------------------


def test_feedback_is_linked_to_the_audited_card(store: Store) -> None:
    call(store, AuditedCard("c-1", "local-infection", "critical"))

    assert store.feedback.save(SERVICE, [entry("c-1")], T0) == 1

    with store.engine.connect() as connection:
        row = connection.execute(select(schema.feedback, schema.card.c.finding_code).join(schema.card)).one()
    assert row.card_uuid == "c-1"
    assert row.finding_code == "local-infection"
    assert row.outcome_timestamp == datetime(2026, 11, 2, 9, 1, tzinfo=UTC)
    assert row.override_reason_code == "data-incorrect"


def test_resubmitted_feedback_is_stored_once(store: Store) -> None:
    call(store, AuditedCard("c-1", "local-infection", "critical"))
    store.feedback.save(SERVICE, [entry("c-1")], T0)

    assert store.feedback.save(SERVICE, [entry("c-1", at="2026-11-02T10:01:00+01:00")], T0) == 0
    assert store.feedback.save(SERVICE, [entry("c-1", at="2026-11-02T09:05:00Z")], T0) == 1
    assert count(store, schema.feedback) == 2


def test_feedback_on_an_unknown_card_stores_nothing(store: Store) -> None:
    call(store, AuditedCard("c-1", "local-infection", "critical"))

    with pytest.raises(UnknownCard) as raised:
        store.feedback.save(SERVICE, [entry("c-1"), entry("never-issued")], T0)

    assert raised.value.expression == "feedback[1].card"
    assert count(store, schema.feedback) == 0
    with pytest.raises(UnknownCard):
        store.feedback.save("dry-needling-order-sign", [entry("c-1")], T0)


def test_concurrent_resubmissions_store_one_row(store: Store) -> None:
    call(store, AuditedCard("c-1", "local-infection", "critical"))
    barrier = threading.Barrier(8)

    def submit(_: int) -> int:
        barrier.wait()
        return store.feedback.save(SERVICE, [entry("c-1")], T0)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(submit, range(8)))

    assert sorted(results) == [0] * 7 + [1]
    assert count(store, schema.feedback) == 1


# --- token replay -------------------------------------------------------------------------------------------


def test_a_token_id_is_accepted_once(store: Store) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)

    assert store.replay.first_use("https://ehr.example.org", "jti-1", expires) is True
    assert store.replay.first_use("https://ehr.example.org", "jti-1", expires) is False
    assert store.replay.first_use("https://other.example.org", "jti-1", expires) is True
    assert store.replay.first_use("https://ehr.example.org", "jti-2", expires) is True


def test_an_expired_token_id_is_forgotten(store: Store) -> None:
    clock = [datetime(2026, 11, 2, 9, 0, tzinfo=UTC)]
    replay = TokenReplayStore(store.engine, now=lambda: clock[0])
    assert replay.first_use("iss", "jti", clock[0] + timedelta(minutes=5))

    clock[0] += timedelta(minutes=6)

    assert replay.first_use("iss", "jti", clock[0] + timedelta(minutes=5)) is True
    assert replay.first_use("iss", "jti", clock[0] + timedelta(minutes=5)) is False
    clock[0] += timedelta(minutes=6)
    assert replay.purge_expired() == 1
    assert count(store, schema.token_use) == 0


def test_a_token_id_raced_by_many_threads_wins_once(store: Store) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    barrier = threading.Barrier(10)

    def use(_: int) -> bool:
        barrier.wait()
        return store.replay.first_use("iss", "raced", expires)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(use, range(10)))

    assert results.count(True) == 1


def test_checking_a_token_id_reads_without_waiting_for_a_writer(store: Store) -> None:
    """The check before evaluation (``seen``) is a read: while another connection holds a write transaction
    (on SQLite: the database's write lock, as a commit in progress does), it answers from the last commit
    instead of waiting for the lock (it used to take the write lock itself, and time out behind it)."""
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert store.replay.first_use("iss", "claimed", expires)
    with store.engine.connect() as writer:
        assert store.replay.claim(writer, "iss", "pending", expires)  # the write lock is now held

        assert store.replay.seen("iss", "claimed") is True
        assert store.replay.seen("iss", "pending") is False  # not committed: only claim decides
        writer.rollback()
    assert store.replay.seen("iss", "pending") is False


# --- purge and report ---------------------------------------------------------------------------------------


def test_purge_deletes_old_calls_with_their_cards_and_feedback(store: Store) -> None:
    call(store, AuditedCard("old", "local-infection", "critical"), at=T0 - timedelta(days=400))
    call(store, AuditedCard("new", "local-infection", "critical"), at=T0)
    store.feedback.save(SERVICE, [entry("old"), entry("new")], T0)
    TokenReplayStore(store.engine, now=lambda: T0 - timedelta(days=2)).first_use(
        "i", "j", T0 - timedelta(days=1)
    )

    dry = purge(store.engine, T0 - timedelta(days=365), T0, dry_run=True)
    result = purge(store.engine, T0 - timedelta(days=365), T0)

    assert dry == result
    assert (result.hook_calls, result.cards, result.feedback, result.token_ids) == (1, 1, 1, 1)
    assert count(store, schema.hook_call) == 1
    assert count(store, schema.feedback) == 1


def test_report_counts_cards_outcomes_and_reasons(store: Store) -> None:
    call(
        store,
        AuditedCard("a", "local-infection", "critical"),
        AuditedCard("b", "local-infection", "critical"),
        AuditedCard("c", "local-infection", "critical"),
        AuditedCard("d", "risk-disclosure", "info"),
    )
    call(store, AuditedCard("a", "local-infection", "critical"), at=T0 + timedelta(minutes=1))  # retried call
    call(store, AuditedCard("e", "local-infection", "critical"), at=T0 + timedelta(days=31))
    store.feedback.save(
        SERVICE,
        [
            entry("a", at="2026-11-02T09:01:00Z"),
            entry("a", "accepted", at="2026-11-02T09:02:00Z"),  # the later outcome decides
            entry("b"),
            entry("c", override_code=None, override_comment="patient declined"),
            entry("d", "accepted"),
            entry("e"),
        ],
        T0,
    )
    displays = {("urn:dn-cds:CodeSystem/override-reason", "data-incorrect"): "Record wrong"}

    rows = build_report(
        store.engine, since=None, until=None, period="month", zone=UTC, reason_displays=displays
    )

    summary = [(r.period, r.finding_code, r.shown, r.accepted, r.overridden) for r in rows]
    assert summary == [
        ("2026-11", "local-infection", 3, 1, 2),
        ("2026-11", "risk-disclosure", 1, 1, 0),
        ("2026-12", "local-infection", 1, 0, 1),
    ]
    assert dict(rows[0].override_reasons) == {"data-incorrect (Record wrong)": 1, "(comment only)": 1}
    later = build_report(store.engine, since=T0 + timedelta(days=1), until=None, period="week", zone=UTC)
    assert [(r.period, r.shown) for r in later] == [("2026-W49", 1)]


# --- failures -----------------------------------------------------------------------------------------------


def test_an_unreachable_database_is_store_unavailable(store_settings: Settings) -> None:
    opened = open_store(store_settings)
    engine_url = opened.engine.url
    opened.close()
    gone = store_settings.data_dir / "gone"
    sqlite = engine_url.get_backend_name() == "sqlite"
    broken = engine_url.set(database=str(gone / "x.sqlite3")) if sqlite else engine_url.set(port=1)
    unavailable = Store(create_store_engine(broken), opened.pseudonymizer)
    if sqlite:  # the engine made the directory (and an empty database file); a file in its place makes the
        (gone / "x.sqlite3").unlink()  # database unopenable
        gone.rmdir()
        gone.write_text("a file where the database directory was")
    try:
        with pytest.raises(StoreUnavailable):
            unavailable.audit.record(HookCallRecord(T0, SERVICE, 200, 1.0))
        with pytest.raises(StoreUnavailable):
            unavailable.replay.first_use("iss", "jti", T0)
    finally:
        unavailable.close()
