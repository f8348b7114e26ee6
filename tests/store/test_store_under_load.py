"""The real server (``dn-cds serve``: gunicorn, several workers) on 127.0.0.1, writing the audit and feedback
under concurrent load, on SQLite and on PostgreSQL:

- killed with SIGKILL (the whole process group) mid-load and restarted on the same database, every feedback
  acknowledged with a 2xx is stored, none twice, and clients retrying after a lost acknowledgement create no
  duplicates;
- several workers writing at once lose and duplicate nothing, and never answer 5xx ("database is locked").
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select
from support.servers import serving
from support.services import SERVICES

from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.settings import Settings
from cds_service.store import open_store, schema

SERVICE = SERVICES["order-select"]


def issue_cards(url: str, calls: int) -> list[str]:
    """Make hook calls (the cards get audited); the uuids of the cards returned."""
    patients = [p for p in load_demo_patients(datetime.now(UTC).date()) if p.expected_findings]
    uuids: list[str] = []
    with requests.Session() as session:
        for index in range(calls):
            body = build_hook_request(patients[index % len(patients)], SERVICE)
            response = session.post(f"{url}/cds-services/{SERVICE.id}", json=body, timeout=10)
            assert response.status_code == 200, response.text
            uuids += [card["uuid"] for card in response.json()["cards"]]
    return uuids


def feedback_body(card: str, sequence: int) -> dict[str, Any]:
    """A unique piece of feedback: its outcomeTimestamp is distinct per ``sequence``."""
    moment = datetime(2026, 11, 26, 8, 0, tzinfo=UTC) + timedelta(milliseconds=sequence)
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"userComment": "load test"},
                "outcomeTimestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
        ]
    }


def stored_feedback(settings: Settings) -> Counter[tuple[str, datetime]]:
    """(card uuid, outcomeTimestamp) -> how many rows hold it."""
    store = open_store(settings)
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(
                select(schema.feedback.c.card_uuid, schema.feedback.c.outcome_timestamp)
            )
            return Counter((card, when) for card, when in rows)
    finally:
        store.close()


def key_of(body: dict[str, Any]) -> tuple[str, datetime]:
    item = body["feedback"][0]
    return item["card"], datetime.fromisoformat(item["outcomeTimestamp"].replace("Z", "+00:00"))


def test_sigkill_under_feedback_load_loses_no_acknowledged_feedback(
    store_settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "server.log"
    sent: dict[int, dict[str, Any]] = {}
    acknowledged: set[int] = set()
    lock = threading.Lock()
    counter = iter(range(10**9))
    stop = threading.Event()
    enough = threading.Event()  # 300 feedback entries acknowledged: time to kill the server

    with serving(store_settings, log_path) as (url, process):
        cards = issue_cards(url, 12)

        def load() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    with lock:
                        sequence = next(counter)
                        body = sent[sequence] = feedback_body(cards[sequence % len(cards)], sequence)
                    try:
                        response = session.post(
                            f"{url}/cds-services/{SERVICE.id}/feedback", json=body, timeout=10
                        )
                    except requests.RequestException:
                        continue  # no acknowledgement: the client would retry later
                    if 200 <= response.status_code < 300:
                        with lock:
                            acknowledged.add(sequence)
                            if len(acknowledged) >= 300:
                                enough.set()

        threads = [threading.Thread(target=load) for _ in range(12)]
        for thread in threads:
            thread.start()
        enough.wait(timeout=60)
        os.killpg(process.pid, signal.SIGKILL)  # master and workers, mid-load
        process.wait()
        stop.set()
        for thread in threads:
            thread.join()

    assert len(acknowledged) >= 300, log_path.read_text(errors="replace")
    with serving(store_settings, log_path) as (url, _):
        stored = stored_feedback(store_settings)
        missing = [s for s in acknowledged if stored[key_of(sent[s])] != 1]
        assert missing == [], f"{len(missing)} acknowledged feedback entries missing or duplicated"
        assert max(stored.values()) == 1
        # Every client retries what it sent (acknowledged or not): nothing is stored twice.
        with requests.Session() as session:
            for body in sent.values():
                response = session.post(f"{url}/cds-services/{SERVICE.id}/feedback", json=body, timeout=10)
                assert response.status_code == 200, response.text
    stored = stored_feedback(store_settings)
    assert set(stored) == {key_of(body) for body in sent.values()}
    assert set(stored.values()) == {1}


def test_concurrent_workers_write_every_row_once_and_never_5xx(
    store_settings: Settings, tmp_path: Path
) -> None:
    patients = [p for p in load_demo_patients(datetime.now(UTC).date()) if p.expected_findings]
    statuses: Counter[int] = Counter()
    cards_returned: list[str] = []
    feedback_sent: list[tuple[str, datetime]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    with serving(store_settings, tmp_path / "server.log") as (url, _):

        def client(index: int) -> None:
            with requests.Session() as session:
                barrier.wait()
                for round_number in range(15):
                    body = build_hook_request(
                        patients[(index + round_number) % len(patients)],
                        SERVICE,
                        hook_instance=str(uuid.uuid4()),
                    )
                    response = session.post(f"{url}/cds-services/{SERVICE.id}", json=body, timeout=30)
                    with lock:
                        statuses[response.status_code] += 1
                    if response.status_code != 200:
                        continue
                    uuids = [card["uuid"] for card in response.json()["cards"]]
                    with lock:
                        cards_returned.extend(uuids)
                    feedback = feedback_body(uuids[0], index * 1000 + round_number)
                    answer = session.post(
                        f"{url}/cds-services/{SERVICE.id}/feedback", json=feedback, timeout=30
                    )
                    with lock:
                        statuses[answer.status_code] += 1
                        if answer.status_code == 200:
                            feedback_sent.append(key_of(feedback))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == Counter({200: 16 * 15 * 2}), (tmp_path / "server.log").read_text(errors="replace")
    store = open_store(store_settings)
    try:
        with store.engine.connect() as connection:
            calls = connection.execute(select(func.count()).select_from(schema.hook_call)).scalar_one()
            card_uuids = Counter(connection.execute(select(schema.card.c.card_uuid)).scalars())
    finally:
        store.close()
    assert calls == 16 * 15
    assert card_uuids == Counter(cards_returned)
    assert stored_feedback(store_settings) == Counter(feedback_sent)
