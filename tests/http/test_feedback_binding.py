"""Feedback is tied to who got the card (issue 15 item 4), on SQLite and PostgreSQL: another issuer or tenant
cannot report on a card, card uuids cannot be predicted from the hookInstance, and an accepted suggestion must
be one the card offered. Also the schema migration from revision 0001 with cards already audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from support.tokens import BASE_URL, ISSUER, jwk_set, token

from cds_service import Settings, create_app
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.feedback import FeedbackEntry
from cds_service.store import AuditedCard, HookCallRecord, Store, open_store, schema
from cds_service.store.engine import create_store_engine, database_url
from cds_service.store.errors import UnknownCard, UnknownSuggestion
from cds_service.store.migrate import alembic_config, upgrade
from cds_service.trust import IssuerTrust

SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "first-trimester")
OTHER_ISSUER = "https://other-ehr.test.example/"
TODAY_AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
CALL = f"/cds-services/{SERVICE.id}"
FEEDBACK = f"{CALL}/feedback"


@pytest.fixture
def client(store: Store, store_settings: Settings) -> Iterator[CdsClient]:
    keys = json.dumps(jwk_set())
    issuers = (
        IssuerTrust(issuer=ISSUER, jwks_json=keys),
        IssuerTrust(issuer=OTHER_ISSUER, jwks_json=keys),
    )
    app = create_app(replace(store_settings, trusted_issuers=issuers), today=lambda: TODAY, store=store)
    with app.test_client() as flask_client:
        yield CdsClient(flask_client)


def as_caller(path: str, issuer: str = ISSUER, tenant: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(BASE_URL + path, iss=issuer, tenant=tenant)}"}


def call(client: CdsClient, issuer: str = ISSUER, tenant: str | None = None, hook_instance: str = "") -> Any:
    body = build_hook_request(PATIENT, SERVICE)
    if hook_instance:
        body["hookInstance"] = hook_instance
    response = client.raw("POST", CALL, json=body, headers=as_caller(CALL, issuer, tenant))
    assert response.status_code == 200
    return response.get_json()["cards"]


def overridden(card: dict[str, Any], second: int = 1) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"userComment": "not today"},
                "outcomeTimestamp": f"2026-11-26T10:05:{second:02d}Z",
            }
        ]
    }


def send(client: CdsClient, body: Any, issuer: str = ISSUER, tenant: str | None = None) -> Any:
    return client.raw("POST", FEEDBACK, json=body, headers=as_caller(FEEDBACK, issuer, tenant))


def test_another_issuer_cannot_give_feedback_on_a_card(client: CdsClient, store: Store) -> None:
    [card, *_] = call(client, ISSUER)

    refused = send(client, overridden(card), OTHER_ISSUER)
    accepted = send(client, overridden(card, 2), ISSUER)

    assert refused.status_code == 404
    assert refused.get_json()["issue"][0]["expression"] == ["feedback[0].card"]
    assert accepted.status_code == 200
    with store.engine.connect() as connection:
        assert len(connection.execute(select(schema.feedback)).all()) == 1


def test_another_tenant_of_the_same_issuer_cannot_give_feedback_on_a_card(client: CdsClient) -> None:
    [card, *_] = call(client, ISSUER, "tenant-1")

    assert send(client, overridden(card), ISSUER, "tenant-2").status_code == 404
    assert send(client, overridden(card), ISSUER).status_code == 404  # no tenant is not tenant-1 either
    assert send(client, overridden(card), ISSUER, "tenant-1").status_code == 200


def test_card_uuids_cannot_be_predicted_from_the_hook_instance(client: CdsClient) -> None:
    """Reusing another caller's hookInstance gives other uuids; a retry by the same caller the same ones."""
    hook_instance = "5f4c5c1e-8b0e-4c57-9a41-0d6f1f0f5a11"
    first = [card["uuid"] for card in call(client, ISSUER, hook_instance=hook_instance)]
    retried = [card["uuid"] for card in call(client, ISSUER, hook_instance=hook_instance)]
    reused = [card["uuid"] for card in call(client, OTHER_ISSUER, hook_instance=hook_instance)]

    assert first == retried
    assert set(first).isdisjoint(reused)


def test_an_accepted_suggestion_must_be_one_the_card_offered(client: CdsClient) -> None:
    cards = call(client)
    card = next(card for card in cards if card.get("suggestions"))
    offered = card["suggestions"][0]["uuid"]

    def accepted(suggestion: str, second: int) -> dict[str, Any]:
        entry = {
            "card": card["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": suggestion}],
            "outcomeTimestamp": f"2026-11-26T10:06:{second:02d}Z",
        }
        return {"feedback": [entry]}

    never_offered = send(client, accepted("00000000-0000-4000-8000-000000000000", 1))
    other_card = next(c for c in cards if c["uuid"] != card["uuid"])
    offered_elsewhere = send(
        client, {"feedback": [{**accepted(offered, 2)["feedback"][0], "card": other_card["uuid"]}]}
    )

    assert never_offered.status_code == 400
    assert never_offered.get_json()["issue"][0]["expression"] == ["feedback[0].acceptedSuggestions[0].id"]
    assert offered_elsewhere.status_code == 400
    assert send(client, accepted(offered, 3)).status_code == 200


def test_the_store_matches_issuer_and_tenant_exactly(store: Store) -> None:
    card = AuditedCard("c-1", "local-infection", "critical", suggestions=("s-1",))
    store.audit.record(HookCallRecord(TODAY_AT, SERVICE.id, 200, 1.0, cards=[card], issuer="A", tenant="t"))
    entry = FeedbackEntry("c-1", "accepted", ("s-1",), None, None, "2026-11-26T10:05:00Z")

    for issuer, tenant in (("B", "t"), ("A", None), (None, None), ("A", "u")):
        with pytest.raises(UnknownCard):
            store.feedback.save(SERVICE.id, [entry], TODAY_AT, issuer=issuer, tenant=tenant)
    with pytest.raises(UnknownSuggestion):
        store.feedback.save(
            SERVICE.id, [replace(entry, accepted_suggestions=("s-2",))], TODAY_AT, issuer="A", tenant="t"
        )
    assert store.feedback.save(SERVICE.id, [entry], TODAY_AT, issuer="A", tenant="t") == 1


def test_cards_audited_before_the_migration_keep_working(store_settings: Settings) -> None:
    """A database at revision 0001 with an audited card: migrated, the card takes feedback from a caller
    without a token (its recipient was not recorded), its suggestions unchecked."""
    engine = create_store_engine(database_url(store_settings.database_url, store_settings.data_dir))
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
        with engine.begin() as connection:
            call_id = connection.execute(
                insert(schema.hook_call)
                .values(
                    called_at=TODAY_AT,
                    service_id=SERVICE.id,
                    status=200,
                    finding_codes=[],
                    data_completeness={},
                    latency_ms=1.0,
                )
                .returning(schema.hook_call.c.id)
            ).scalar_one()
            connection.execute(  # the card table as revision 0001 made it
                text(
                    "INSERT INTO card"
                    " (hook_call_id, service_id, card_uuid, finding_code, indicator, evidence)"
                    " VALUES (:call, :service, 'old-card', 'local-infection', 'critical', '[]')"
                ),
                {"call": call_id, "service": SERVICE.id},
            )
        upgrade(engine)
    finally:
        engine.dispose()
    store = open_store(store_settings)
    try:
        entry = FeedbackEntry("old-card", "accepted", ("any",), None, None, "2026-11-26T10:05:00Z")
        assert store.feedback.save(SERVICE.id, [entry], TODAY_AT) == 1
        with pytest.raises(UnknownCard):
            store.feedback.save(
                SERVICE.id,
                [replace(entry, outcome_timestamp="2026-11-26T10:06:00Z")],
                TODAY_AT,
                issuer=ISSUER,
            )
    finally:
        store.close()
