"""Proof with several instances on this machine: two ``dn-cds serve`` (gunicorn, 2 workers each) on loopback,
sharing one PostgreSQL, behind nginx from Debian's package with the proxy settings deploy/ ships.

Closed-loop load (each client sends its next request when the previous one is answered) of hook calls and
feedback on the cards they return, through the proxy. Once enough feedback has been acknowledged, one
instance is SIGKILLed (master and workers) while requests are in flight; the load goes on. Then:

- the surviving instance keeps answering: every client gets answers after the kill;
- no acknowledged feedback is lost: every entry acknowledged with 200 is in the database, once;
- nothing is answered with a 500, nor a 401 for a fresh token: an answer is 200, or 502 for a request in
  flight at the killed instance (the EHR resends feedback; the store keeps the first: a resend is harmless);
- a token is accepted only once across both instances, sent to both at the same moment, and after the kill;
- ``/readyz`` on the survivor turns 503 when its database goes away, and back to 200 when it returns;
- ``/metrics`` on the survivor adds up its workers' counts.

Nothing here waits for a time or asserts one: ordering comes from events and the answers themselves.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select
from support.nginx import nginx_proxy
from support.postgresql import PostgresServer, find_bindir, start_server
from support.servers import free_port, serving
from support.services import SERVICES
from support.store_fixtures import PSEUDONYM_KEY
from support.tokens import ISSUER, jwk_set, token

from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.settings import Settings
from cds_service.store import schema

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

SERVICE = SERVICES["order-select"]
PATIENTS = load_demo_patients(datetime.now(UTC).date())  # the servers' clock is real; so is this one
CLIENTS = 4
KILL_AFTER_ACKNOWLEDGED = 12  # feedback acknowledged (through both instances) before one is killed
AFTER_KILL = 6  # each client's hook calls answered 200 after the kill (all by the survivor)
MAX_ROUNDS = 200  # a client stops after this many rounds whatever happens (the loop is bounded)


@pytest.fixture(scope="module")
def database() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own: the readiness test shuts it down and starts it again."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "postgres").exists():
        pytest.fail("PostgreSQL server binaries not found: run scripts/install-postgresql.sh")
    server = start_server(bindir)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Cluster:
    proxy: str
    instances: list[str]
    processes: list[Any]
    metrics: list[str]
    database_url: str


@pytest.fixture(scope="module")
def cluster(database: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two instances (own data dirs, one database, one pseudonym key) behind nginx; EHR tokens are audienced
    to the proxy's URL, the public base URL both instances are configured with."""
    url = database.create_database("several")
    proxy_port = free_port()
    public = f"http://127.0.0.1:{proxy_port}"
    logs = tmp_path_factory.mktemp("instances")
    metrics_ports = [free_port(), free_port()]
    common = {
        "DN_CDS_AUTH": "required",
        "DN_CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: {"jwks": jwk_set()}}),
        "DN_CDS_PUBLIC_BASE_URL": public,
    }
    settings = [
        Settings(data_dir=tmp_path_factory.mktemp(f"data-{n}"), database_url=url, pseudonym_key=PSEUDONYM_KEY)
        for n in (1, 2)
    ]
    with (
        serving(
            settings[0],
            logs / "a.log",
            workers=2,
            env_overrides={**common, "DN_CDS_METRICS_PORT": str(metrics_ports[0])},
        ) as (url_a, process_a),
        serving(
            settings[1],
            logs / "b.log",
            workers=2,
            env_overrides={**common, "DN_CDS_METRICS_PORT": str(metrics_ports[1])},
        ) as (url_b, process_b),
        nginx_proxy([int(url_a.rsplit(":", 1)[1]), int(url_b.rsplit(":", 1)[1])], port=proxy_port) as proxy,
    ):
        yield Cluster(
            proxy,
            [url_a, url_b],
            [process_a, process_b],
            [f"http://127.0.0.1:{port}/metrics" for port in metrics_ports],
            url,
        )


def signed(public: str, path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(public + path)}"}


@dataclass
class Tally:
    """What the clients saw, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (card uuid, outcomeTimestamp)
    answered_after_kill: Counter[int] = field(default_factory=Counter)
    enough_acknowledged: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)

    def saw(self, kind: str, status: int) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1

    def acknowledge(self, card: str, timestamp: str) -> None:
        with self.lock:
            self.acknowledged.append((card, timestamp))
            if len(self.acknowledged) >= KILL_AFTER_ACKNOWLEDGED:
                self.enough_acknowledged.set()


def feedback_body(card: str, timestamp: str) -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": timestamp}]}


def client_loop(number: int, public: str, tally: Tally) -> None:
    """One EHR: a hook call, then feedback on one of its cards (resent while unacknowledged, as an EHR does),
    until it has had AFTER_KILL answers after the kill."""
    call_path = f"/cds-services/{SERVICE.id}"
    feedback_path = f"{call_path}/feedback"
    with requests.Session() as session:
        for round_number in range(MAX_ROUNDS):
            after_kill = tally.killed.is_set()
            patient = PATIENTS[(number + round_number) % len(PATIENTS)]
            call = _post(
                session,
                public + call_path,
                json=build_hook_request(patient, SERVICE),
                headers=signed(public, call_path),
            )
            tally.saw("call", call.status_code if call is not None else CUT)
            if call is None or call.status_code != 200:
                continue
            if after_kill:
                with tally.lock:
                    tally.answered_after_kill[number] += 1
                    if tally.answered_after_kill[number] >= AFTER_KILL:
                        return
            cards = call.json()["cards"]
            if not cards:
                continue
            card = cards[0]["uuid"]
            timestamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            for _ in range(3):  # resend while unacknowledged (502: in flight at the instance killed)
                answer = _post(
                    session,
                    public + feedback_path,
                    json=feedback_body(card, timestamp),
                    headers=signed(public, feedback_path),
                )
                tally.saw("feedback", answer.status_code if answer is not None else CUT)
                if answer is not None and answer.status_code == 200:
                    tally.acknowledge(card, timestamp)
                    break


# An answer cut off mid-body: the killed instance had sent its headers (which the proxy passed on) but not
# its body. Like a 502, it is a call in flight at the instance killed, and an EHR sends it again.
CUT = -1


def _post(session: requests.Session, url: str, **kwargs: Any) -> requests.Response | None:
    """The answer, or ``None`` when the connection broke mid-answer (:data:`CUT`)."""
    try:
        return session.post(url, timeout=30, **kwargs)
    except requests.exceptions.ChunkedEncodingError:
        return None


def kill_group(process: Any) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_two_instances_share_the_work_and_one_may_die(cluster: Cluster) -> None:
    public, (url_a, url_b) = cluster.proxy, cluster.instances
    call_path = f"/cds-services/{SERVICE.id}"
    body = build_hook_request(PATIENTS[0], SERVICE)

    # A token sent to both instances at the same moment is accepted by one of them only.
    for _ in range(5):
        jwt_value = token(public + call_path, jti=str(uuid.uuid4()))
        start = threading.Barrier(2)

        def send(base: str, jwt_value: str = jwt_value, start: threading.Barrier = start) -> int:
            start.wait()
            headers = {"Authorization": f"Bearer {jwt_value}"}
            return requests.post(base + call_path, json=body, headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(send, [url_a, url_b]))
        assert statuses == [200, 401]
    # A token A accepted, to be replayed after A is gone.
    accepted_by_a = token(public + call_path, jti=str(uuid.uuid4()))
    first_use = requests.post(
        url_a + call_path, json=body, headers={"Authorization": f"Bearer {accepted_by_a}"}, timeout=30
    )
    assert first_use.status_code == 200

    tally = Tally()
    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(client_loop, n, public, tally) for n in range(CLIENTS)]
        assert tally.enough_acknowledged.wait(timeout=300), tally.statuses
        kill_group(cluster.processes[0])  # instance A, master and workers, with requests in flight
        tally.killed.set()
        for running in clients:
            running.result()

    # The survivor kept answering every client.
    assert all(tally.answered_after_kill[n] >= AFTER_KILL for n in range(CLIENTS)), tally.answered_after_kill
    # Only 200s, and 502s (or answers cut mid-body) for what was in flight at A; never a 500, never a 401
    # for a fresh token.
    assert {status for _, status in tally.statuses} <= {200, 502, CUT}, tally.statuses
    assert sum(status == CUT for _, status in tally.statuses) <= CLIENTS  # at most one in flight per client

    # No acknowledged feedback lost, and none stored twice.
    engine = create_engine(cluster.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(schema.feedback.c.card_uuid, schema.feedback.c.outcome_timestamp)
            ).all()
    finally:
        engine.dispose()
    stored = Counter((card, instant.astimezone(UTC)) for card, instant in rows)
    for card, timestamp in tally.acknowledged:
        instant = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        assert stored[(card, instant)] == 1, (card, timestamp)

    # The token A accepted before it died is refused by the survivor.
    replay = requests.post(
        public + call_path, json=body, headers={"Authorization": f"Bearer {accepted_by_a}"}, timeout=30
    )
    assert replay.status_code == 401

    # The survivor's metrics add up its two workers' counts: at least every call answered after the kill.
    exposition = requests.get(cluster.metrics[1], timeout=10)
    assert exposition.status_code == 200
    answered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.text.splitlines()
        if line.startswith("dn_cds_hook_calls_total{") and 'status="200"' in line
    )
    assert answered >= sum(tally.answered_after_kill.values())
    assert requests.get(url_b + "/metrics", timeout=10).status_code == 404  # not on the service's port


def test_readyz_follows_the_database(cluster: Cluster, database: PostgresServer) -> None:
    survivor = cluster.instances[1]
    assert requests.get(survivor + "/readyz", timeout=10).status_code == 200

    database.shut_down()
    try:
        gone = [requests.get(survivor + "/readyz", timeout=10) for _ in range(4)]  # reaches both workers
        alive = requests.get(survivor + "/healthz", timeout=10)
        path = f"/cds-services/{SERVICE.id}"
        call = requests.post(
            cluster.proxy + path,
            json=build_hook_request(PATIENTS[0], SERVICE),
            headers=signed(cluster.proxy, path),
            timeout=30,
        )
    finally:
        database.start_again()
    back = [requests.get(survivor + "/readyz", timeout=10) for _ in range(4)]

    assert [r.status_code for r in gone] == [503] * 4
    assert gone[0].json()["store"] in {"store-error", "store-timeout"}
    assert alive.status_code == 200  # liveness: a restart would not bring the database back
    assert call.status_code == 503  # the token cannot be checked as single-use: try again, never a 500
    assert call.json()["resourceType"] == "OperationOutcome"
    assert [r.status_code for r in back] == [200] * 4
