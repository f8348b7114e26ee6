"""A hook call's token id is claimed in the transaction of its audit record (issue 14 item 5), on SQLite and
PostgreSQL: one commit per authenticated call; a token another call claimed while this one was evaluated gets
401 and leaves no audit record; a token already claimed is refused before evaluation; requests the audit does
not record (discovery, feedback) still claim their token id before they are answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from support.clock import TODAY
from support.services import SERVICES
from support.tokens import BASE_URL, ISSUER, token

from cds_service import create_app
from cds_service.advice import Advisor
from cds_service.audit_trail import DEFERRED_TOKEN
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.settings import Settings
from cds_service.store import Store, schema
from cds_service.store.replay import token_key

SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "eligible")
PATH = f"/cds-services/{SERVICE.id}"


@pytest.fixture
def app(store: Store, store_settings: Settings) -> Flask:
    return create_app(store_settings, today=lambda: TODAY, store=store)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as flask_client:
        yield flask_client


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hookInstance of every evaluation the advisor makes."""
    made: list[str] = []
    original = Advisor.cards

    def counted(self: Advisor, request: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(request.hook_instance)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(Advisor, "cards", counted)
    return made


def bearer(jwt_value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_value}"}


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def claimed(store: Store, jti: str) -> bool:
    with store.engine.connect() as connection:
        keys = connection.execute(select(schema.token_use.c.key)).scalars().all()
    return token_key(ISSUER, jti) in keys


def test_an_authenticated_hook_call_commits_once(store: Store, client: FlaskClient) -> None:
    """The token id and the audit record are made durable by the same commit (before: two)."""
    warm_up = client.post(
        PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(token(BASE_URL + PATH))
    )
    assert warm_up.status_code == 200  # and the once-a-minute purge of expired token ids is done
    commits: list[int] = []
    listener = lambda _connection: commits.append(1)  # noqa: E731
    event.listen(store.engine, "commit", listener)
    jti = str(uuid.uuid4())
    try:
        response = client.post(
            PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(token(BASE_URL + PATH, jti=jti))
        )
    finally:
        event.remove(store.engine, "commit", listener)

    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["cards"]
    assert len(commits) == 1
    assert claimed(store, jti) and count(store, schema.hook_call) == 2


def test_a_token_claimed_by_another_call_during_evaluation_gets_401_and_no_audit(
    app: Flask, store: Store, client: FlaskClient, evaluations: list[str]
) -> None:
    """Another worker or instance claims the same token id after this call passed the gate (it was not yet
    claimed) and before its audit record is written: this call is evaluated, but answered 401, with nothing
    written; the winner's claim stands."""
    jti = str(uuid.uuid4())

    @app.before_request
    def another_call_wins() -> None:  # runs after the security gate, before the route
        pending = g.get(DEFERRED_TOKEN)
        if pending is not None:
            assert store.replay.first_use(pending.issuer, pending.jti, pending.expires_at)

    body = build_hook_request(PATIENT, SERVICE)
    response = client.post(PATH, json=body, headers=bearer(token(BASE_URL + PATH, jti=jti)))

    assert response.status_code == 401
    assert response.get_json()["issue"][0]["diagnostics"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "cards" not in response.get_json()
    assert evaluations == [body["hookInstance"]]
    assert count(store, schema.hook_call) == 0 and count(store, schema.card) == 0
    assert claimed(store, jti)


def test_a_token_already_claimed_is_refused_before_evaluation(
    store: Store, client: FlaskClient, evaluations: list[str]
) -> None:
    jti = str(uuid.uuid4())
    jwt_value = token(BASE_URL + PATH, jti=jti)
    first = client.post(PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(jwt_value))
    replay = client.post(PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(jwt_value))

    assert [first.status_code, replay.status_code] == [200, 401]
    assert len(evaluations) == 1  # the replay was not evaluated
    assert count(store, schema.hook_call) == 1


def test_a_refused_body_still_uses_up_its_token(store: Store, client: FlaskClient) -> None:
    """A 400 is audited, and its token id claimed with the record: the same token cannot be used again."""
    jwt_value = token(BASE_URL + PATH)
    bad = client.post(PATH, json={"hook": "order-select"}, headers=bearer(jwt_value))
    again = client.post(PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(jwt_value))

    assert [bad.status_code, again.status_code] == [400, 401]
    assert count(store, schema.hook_call) == 1


@pytest.mark.parametrize(
    "method, path", [("GET", "/cds-services"), ("POST", "/cds-services/no-such-service")]
)
def test_requests_without_an_audit_record_claim_their_token_at_once(
    store: Store, client: FlaskClient, method: str, path: str
) -> None:
    jti = str(uuid.uuid4())
    jwt_value = token(BASE_URL + path, jti=jti)
    first = client.open(path, method=method, json={} if method == "POST" else None, headers=bearer(jwt_value))
    assert claimed(store, jti)
    again = client.open(path, method=method, json={} if method == "POST" else None, headers=bearer(jwt_value))

    assert first.status_code in {200, 404} and again.status_code == 401


def test_another_replay_guard_claims_in_the_gate(store: Store, store_settings: Settings) -> None:
    """A replay guard other than the store's cannot join the audit's transaction: it claims before the route,
    as before (and the store's table is not used)."""
    from cds_service.auth import InMemoryReplayGuard

    guard = InMemoryReplayGuard()
    app = create_app(store_settings, today=lambda: TODAY, store=store, replay_guard=guard)
    jwt_value = token(BASE_URL + PATH)
    with app.test_client() as client:
        first = client.post(PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(jwt_value))
        again = client.post(PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(jwt_value))

    assert [first.status_code, again.status_code] == [200, 401]
    assert len(guard) == 1 and count(store, schema.token_use) == 0


def test_a_hook_call_that_ends_without_its_audit_write_claims_when_answered(
    app: Flask, store: Store, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net: were a hook call answered without the audit write that claims its token id (a defect),
    the id is claimed as the answer is finalised, and a token another call claimed meanwhile turns the answer
    into 401: cards are never sent on an unclaimed token."""
    from cds_service.audit_trail import AuditTrail

    competing: list[bool] = []

    @app.before_request
    def another_call_wins() -> None:  # from the second call on
        pending = g.get(DEFERRED_TOKEN)
        if pending is not None and competing:
            assert store.replay.first_use(pending.issuer, pending.jti, pending.expires_at)

    monkeypatch.setattr(AuditTrail, "_write", lambda self, record, started: None)
    jti = str(uuid.uuid4())
    first = client.post(
        PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(token(BASE_URL + PATH, jti=jti))
    )
    assert first.status_code == 200 and claimed(store, jti)

    competing.append(True)
    late = client.post(
        PATH, json=build_hook_request(PATIENT, SERVICE), headers=bearer(token(BASE_URL + PATH))
    )
    assert late.status_code == 401 and "cards" not in late.get_json()
