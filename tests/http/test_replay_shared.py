"""JWT replay protection shared through the store, on SQLite and PostgreSQL.

A token's ``(iss, jti)`` is accepted once by whichever process sees it first, and refused by every other
one that shares the database: two apps with their own engines on one store, and a real ``dn-cds serve``
with several gunicorn workers hit with the same token at once. When the store cannot be asked, the answer
is 503 (try again), neither 401 (the token may well be good) nor 500.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from support.cds_client import CdsClient
from support.clock import TODAY
from support.servers import serving_service
from support.services import SERVICES
from support.store_fixtures import PSEUDONYM_KEY
from support.tokens import BASE_URL, ISSUER, token

from cds_service import create_app
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.local_client import sign_service_request
from cds_service.settings import Settings
from cds_service.store import Store, open_store, schema
from cds_service.store.engine import create_store_engine
from cds_service.store.replay import token_key

SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "eligible")
WORKERS = 4
SENDS = 32  # more concurrent requests than the workers have threads (4 x 4), so every worker gets some


def bearer(jwt_value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_value}"}


def hook_calls(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.hook_call)).scalar_one())


@pytest.fixture
def second_store(store_settings: Settings) -> Iterator[Store]:
    """The same database opened again: its own engine and pool, as another worker or instance has."""
    opened = open_store(store_settings)
    try:
        yield opened
    finally:
        opened.close()


def test_a_token_accepted_by_one_app_is_refused_by_another_sharing_the_store(
    store: Store, second_store: Store, store_settings: Settings
) -> None:
    first = create_app(store_settings, today=lambda: TODAY, store=store).test_client()
    second = create_app(store_settings, today=lambda: TODAY, store=second_store).test_client()
    path = f"/cds-services/{SERVICE.id}"
    jti = str(uuid.uuid4())
    jwt_value = token(BASE_URL + path, jti=jti)
    body = build_hook_request(PATIENT, SERVICE)

    accepted = first.post(path, json=body, headers=bearer(jwt_value))
    replayed_elsewhere = second.post(path, json=body, headers=bearer(jwt_value))
    replayed_here = first.post(path, json=body, headers=bearer(jwt_value))
    fresh = second.post(path, json=body, headers=bearer(token(BASE_URL + path)))

    assert [r.status_code for r in (accepted, replayed_elsewhere, replayed_here, fresh)] == [
        200,
        401,
        401,
        200,
    ]
    assert replayed_elsewhere.get_json()["issue"][0]["diagnostics"] == "unauthorized"
    assert hook_calls(store) == 2  # a refused replay is neither evaluated nor audited
    with store.engine.connect() as connection:
        kept = [tuple(row) for row in connection.execute(select(schema.token_use))]
    # What is kept of a token: a hash of (iss, jti) and the expiry, never the token or a part of it.
    assert token_key(ISSUER, jti) in [key for key, _ in kept]
    assert not any(part in repr(kept) for part in jwt_value.split("."))


def broken_store(store: Store, settings: Settings) -> Store:
    """A store on the same database URL made unreachable: SQLite under a path that is a file, PostgreSQL on
    a closed port."""
    url = store.engine.url
    if url.get_backend_name() != "sqlite":
        return Store(create_store_engine(url.set(port=1)), store.pseudonymizer)
    blocked = settings.data_dir / "not-a-directory"
    broken = Store(create_store_engine(url.set(database=str(blocked / "x.sqlite3"))), store.pseudonymizer)
    (blocked / "x.sqlite3").unlink()  # the engine made it, empty
    blocked.rmdir()
    blocked.write_text("a file where the database's directory should be")
    return broken


def test_a_store_failure_in_the_replay_check_is_a_503(
    store: Store, store_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    broken = broken_store(store, store_settings)
    try:
        app = create_app(store_settings, today=lambda: TODAY, store=broken)
        with app.test_client() as flask_client:
            client = CdsClient(flask_client)  # signs every request with a fresh, valid token
            discovery = client.raw("GET", "/cds-services")  # discovery writes no audit: only the replay check
            call = client.call(SERVICE.id, build_hook_request(PATIENT, SERVICE))
            misdirected = CdsClient(flask_client, signed=False).raw(
                "GET", "/cds-services", headers=bearer(token(BASE_URL + "/cds-services/elsewhere"))
            )
    finally:
        broken.close()

    for response in (discovery, call):
        assert response.status_code == 503, response.get_data(as_text=True)[:300]
        assert response.get_json()["issue"][0]["code"] == "transient"
        assert response.headers["Cache-Control"] == "no-store"
    assert "token id" in discovery.get_json()["issue"][0]["diagnostics"]
    # A token that fails its checks is refused before the store is asked: still 401, not 503.
    assert misdirected.status_code == 401
    assert any("store unavailable while the token id" in r.getMessage() for r in caplog.records)


def concurrent_posts(url: str, body: dict[str, Any], headers: dict[str, str], count: int) -> list[int]:
    """POST the same request ``count`` times at once (a barrier releases them together); the statuses."""
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def send() -> None:
        barrier.wait()
        try:
            status = requests.post(url, json=body, headers=headers, timeout=30).status_code
        except requests.RequestException:
            status = -1
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _is_hook_call_line(line: str) -> bool:
    """An access-log line of a hook call (not a /healthz probe)."""
    if not line.startswith("{"):
        return False
    logged = json.loads(line)
    return bool(logged.get("event") == "request" and logged.get("path") != "/healthz")


def test_the_same_token_sent_at_once_to_several_gunicorn_workers_is_accepted_once(
    store_settings: Settings, tmp_path: Path
) -> None:
    """``dn-cds serve`` with 4 workers and its default authentication (the local client key): each round
    sends one token 32 times at once. Exactly one is answered 200 and audited; the others are refused as
    replays, also by workers that never saw the token before (the pids in the log show several answered)."""
    log_path = tmp_path / "server.log"
    overrides = {"DN_CDS_AUTH": "required", "DN_CDS_LOG_LEVEL": "INFO"}
    spread_rounds = 0
    with serving_service(store_settings, log_path, workers=WORKERS, env_overrides=overrides) as served:
        url = f"{served.url}/cds-services/{SERVICE.id}"
        for _ in range(5):
            logged_before = len(served.output.lines)
            body = build_hook_request(PATIENT, SERVICE)
            statuses = concurrent_posts(
                url, body, sign_service_request(url, data_dir=store_settings.data_dir), SENDS
            )

            assert sorted(statuses) == [200] + [401] * (SENDS - 1)
            # A worker writes its access line after the answer has gone: await all of them, by their lines.
            answered = [
                json.loads(line)
                for line in served.output.wait_for_lines(_is_hook_call_line, SENDS, start=logged_before)
            ]
            lines = [json.loads(line) for line in served.output.lines[logged_before:] if line.startswith("{")]
            refused = [line for line in lines if line.get("event") == "auth-refused"]
            assert len(answered) == SENDS
            assert [line["reason"] for line in refused] == ["replayed"] * (SENDS - 1)
            if len({line["pid"] for line in answered}) > 1:
                spread_rounds += 1
    store = open_store(store_settings)
    try:
        with store.engine.connect() as connection:
            audited = connection.execute(
                select(schema.hook_call.c.hook_instance, schema.hook_call.c.status)
            ).all()
    finally:
        store.close()

    assert len(audited) == 5 and {status for _, status in audited} == {200}  # one evaluation per token
    assert spread_rounds >= 1, "every round was answered by one worker only: nothing shown across processes"
    assert PSEUDONYM_KEY not in log_path.read_text()
