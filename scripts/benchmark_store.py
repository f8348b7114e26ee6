"""Write throughput of the store: audit records (a hook call with 3 cards) and feedback entries per second, on
SQLite (the embedded default: WAL, synchronous=FULL) and on PostgreSQL (a private server with production
durability: fsync on, synchronous_commit on), with 1 and several writer threads, each write its own
transaction. Usage::

    .venv/bin/python scripts/benchmark_store.py [--seconds 5] [--threads 1 8] [--postgresql-url URL]
    .venv/bin/python scripts/benchmark_store.py --http [--workers 4] [--threads 16]   # end to end

``--http`` measures through the real server instead: ``dn-cds serve`` (gunicorn, ``--workers`` processes) on
127.0.0.1, with client threads posting feedback (each acknowledged after its commit) and hook calls (each
audited before its answer).

Without ``--postgresql-url`` a private PostgreSQL server is started on 127.0.0.1 (tests/support/postgresql.py;
scripts/install-postgresql.sh installs the binaries) and removed afterwards; ``--no-postgresql`` skips it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from support.postgresql import find_bindir, start_server  # noqa: E402
from support.servers import serving  # noqa: E402

from cds_service.catalog import load_catalog  # noqa: E402
from cds_service.demo import build_hook_request, load_demo_patients  # noqa: E402
from cds_service.feedback import FeedbackEntry  # noqa: E402
from cds_service.settings import Settings  # noqa: E402
from cds_service.store import AuditedCard, HookCallRecord, Store, open_store  # noqa: E402

KEY = "benchmark-pseudonym-key-0123456789abcdef"
SERVICE = "dry-needling-order-select"


def rate(write: Callable[[int], None], threads: int, seconds: float) -> float:
    """Writes per second with ``threads`` writers for ``seconds``."""
    counter = itertools.count()
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        while time.perf_counter() < stop:
            write(next(counter))
            done[slot] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def measure(store: Store, threads: int, seconds: float) -> tuple[float, float]:
    now = datetime.now(UTC)
    run = f"{time.monotonic_ns()}-{threads}"

    def audit(index: int) -> None:
        cards = [
            AuditedCard(f"{run}-{index}-{n}", "local-infection", "critical", ("Condition/x",))
            for n in range(3)
        ]
        store.audit.record(
            HookCallRecord(
                now, SERVICE, 200, 12.0, "order-select", f"hi-{index}", "p" * 64, "2026.11.0", cards
            )
        )

    target = f"{run}-target"
    store.audit.record(
        HookCallRecord(now, SERVICE, 200, 1.0, cards=[AuditedCard(target, "local-infection", "critical")])
    )

    def feedback(index: int) -> None:
        moment = (now + timedelta(microseconds=index)).isoformat().replace("+00:00", "Z")
        entry = FeedbackEntry(target, "overridden", (), ("urn:x", "data-incorrect"), None, moment)
        store.feedback.save(SERVICE, [entry], now)

    return rate(audit, threads, seconds), rate(feedback, threads, seconds)


def measure_http(
    settings: Settings, threads: int, seconds: float, workers: int, log: Path
) -> tuple[float, float]:
    """(audited hook calls/s, feedback entries/s) through ``dn-cds serve``."""
    service = next(s for s in load_catalog().services if s.hook == "order-select")
    patients = [p for p in load_demo_patients(datetime.now(UTC).date()) if p.expected_findings]
    bodies = [build_hook_request(p, service) for p in patients]
    local = threading.local()
    with serving(settings, log, workers=workers) as (url, _):
        first = requests.post(f"{url}/cds-services/{service.id}", json=bodies[0], timeout=10).json()
        card = first["cards"][0]["uuid"]
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=time.time() % 1000)

        def session() -> requests.Session:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            return local.session  # type: ignore[no-any-return]

        def call(index: int) -> None:
            response = session().post(
                f"{url}/cds-services/{service.id}", json=bodies[index % len(bodies)], timeout=30
            )
            assert response.status_code == 200, response.text

        def feedback(index: int) -> None:
            moment = (start + timedelta(microseconds=index)).isoformat().replace("+00:00", "Z")
            item = {"card": card, "outcome": "overridden", "overrideReason": {"userComment": "b"}}
            body = {"feedback": [{**item, "outcomeTimestamp": moment}]}
            response = session().post(f"{url}/cds-services/{service.id}/feedback", json=body, timeout=30)
            assert response.status_code == 200, response.text

        return rate(call, threads, seconds), rate(feedback, threads, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--postgresql-url", default="")
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--http", action="store_true", help="through dn-cds serve (gunicorn) over HTTP")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers with --http")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dn-cds-store-bench-") as tmp:
        targets = [("SQLite (WAL, synchronous=FULL)", Settings(data_dir=Path(tmp), pseudonym_key=KEY))]
        server = None
        if not args.no_postgresql:
            url = args.postgresql_url
            if not url:
                bindir = find_bindir()
                if bindir is None:
                    print(
                        "no PostgreSQL server binaries: run scripts/install-postgresql.sh or --no-postgresql"
                    )
                    return 2
                server = start_server(bindir, durable=True)
                url = server.create_database("bench")
            targets.append(
                ("PostgreSQL (fsync, synchronous_commit on)", Settings(database_url=url, pseudonym_key=KEY))
            )
        try:
            if args.http:
                print(f"HTTP through dn-cds serve, {args.workers} gunicorn workers")
                print(f"{'store':<44} {'threads':>7} {'hook calls/s':>16} {'feedback/s':>11}")
            else:
                print(f"{'store':<44} {'threads':>7} {'audit records/s':>16} {'feedback/s':>11}")
            for name, settings in targets:
                if args.http:
                    for threads in args.threads:
                        log = Path(tmp) / "server.log"
                        calls, feedback = measure_http(settings, threads, args.seconds, args.workers, log)
                        print(f"{name:<44} {threads:>7} {calls:>16.0f} {feedback:>11.0f}")
                    continue
                store = open_store(settings)
                try:
                    for threads in args.threads:
                        audit, feedback = measure(store, threads, args.seconds)
                        print(f"{name:<44} {threads:>7} {audit:>16.0f} {feedback:>11.0f}")
                finally:
                    store.close()
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
