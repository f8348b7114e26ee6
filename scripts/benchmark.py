"""Hook latency benchmark (a measurement, not a test): every demo patient's order-select call, repeated.

    .venv/bin/python scripts/benchmark.py                 # in-process (Flask test client): service cost only
    .venv/bin/python scripts/benchmark.py --url http://127.0.0.1:8080   # over HTTP against a running server

Reports per-call latency percentiles over all calls, and the knowledge load time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from cds_service import Settings, create_app
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from fhir_mappings import load_knowledge


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", help="base URL of a running service (default: in-process)")
    parser.add_argument("--rounds", type=int, default=200, help="calls per demo patient")
    args = parser.parse_args()

    started = time.perf_counter()
    load_knowledge()
    load_ms = (time.perf_counter() - started) * 1000

    service = next(s for s in load_catalog().services if s.hook == "order-select")
    bodies = [build_hook_request(p, service) for p in load_demo_patients(datetime.now(UTC).date())]
    timings: list[float] = []
    if args.url:
        with requests.Session() as session:
            url = f"{args.url.rstrip('/')}/cds-services/{service.id}"

            def post(body: dict[str, object]) -> int:
                return session.post(url, json=body, timeout=10).status_code

            timings = run(post, bodies, args.rounds)
        where = f"HTTP {args.url}"
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="dn-cds-bench-"))  # the audit (SQLite) goes here
        client = create_app(Settings(data_dir=data_dir)).test_client()
        timings = run(
            lambda body: client.post(f"/cds-services/{service.id}", json=body).status_code,
            bodies,
            args.rounds,
        )
        where = "in-process (Flask test client)"
    timings.sort()
    q = statistics.quantiles(timings, n=100)
    print(f"{where}: {len(timings)} order-select calls over {len(bodies)} demo patients")
    print(
        f"  latency ms  median {statistics.median(timings):.2f}  p95 {q[94]:.2f}  p99 {q[98]:.2f}"
        f"  max {timings[-1]:.2f}"
    )
    print(f"  knowledge load {load_ms:.0f} ms (once per process, at start-up)")
    return 0


def run(post: object, bodies: list[dict[str, object]], rounds: int) -> list[float]:
    timings: list[float] = []
    for body in bodies:  # warm-up
        assert post(body) == 200  # type: ignore[operator]
    for _ in range(rounds):
        for body in bodies:
            started = time.perf_counter()
            status = post(body)  # type: ignore[operator]
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    return timings


if __name__ == "__main__":
    raise SystemExit(main())
