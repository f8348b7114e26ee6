"""Write throughput of the store: audit records (a hook call with 3 cards) and feedback entries per second, on
SQLite (the embedded default: WAL, synchronous=FULL) and on PostgreSQL (a private server with production
durability: fsync on, synchronous_commit on), with 1 and several writer threads, each write its own
transaction. Usage::

    .venv/bin/python scripts/benchmark_store.py [--seconds 5] [--threads 1 8] [--postgresql-url URL]

Without ``--postgresql-url`` a private PostgreSQL server is started on 127.0.0.1 (tests/postgresql_server.py;
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

from postgresql_server import find_bindir, start_server  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--postgresql-url", default="")
    parser.add_argument("--no-postgresql", action="store_true")
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
            print(f"{'store':<44} {'threads':>7} {'audit records/s':>16} {'feedback/s':>11}")
            for name, settings in targets:
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
