"""Hook latency benchmark (a measurement, not a test): every demo patient's order-select call, repeated.

    .venv/bin/python scripts/benchmark.py                 # in-process (Flask test client): service cost only
    .venv/bin/python scripts/benchmark.py --url http://127.0.0.1:8080   # over HTTP against a running server

Reports per-call latency percentiles over all calls, and the knowledge load time. Every call carries a fresh
JWT signed as the local client (as ``dn-cds demo`` does), so the latency includes its verification; signing
happens before the clock starts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from cds_service import Settings, create_app
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.local_client import sign_service_request
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
    settings = Settings.from_env()
    if args.url:
        with requests.Session() as session:
            url = f"{args.url.rstrip('/')}/cds-services/{service.id}"

            def post(body: dict[str, object], headers: dict[str, str]) -> int:
                return session.post(url, json=body, headers=headers, timeout=10).status_code

            timings = run(
                post, lambda: sign_service_request(url, data_dir=settings.data_dir), bodies, args.rounds
            )
        where = f"HTTP {args.url}"
    else:
        # default auth: trusts the local client key; the audit (SQLite) goes to a scratch data directory
        local = Settings(data_dir=Path(tempfile.mkdtemp(prefix="dn-cds-bench-")))
        client = create_app(local).test_client()
        path = f"/cds-services/{service.id}"
        timings = run(
            lambda body, headers: client.post(path, json=body, headers=headers).status_code,
            lambda: sign_service_request(local.base_url + path, data_dir=local.data_dir),
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


def run(
    post: Callable[[dict[str, object], dict[str, str]], int],
    sign: Callable[[], dict[str, str]],
    bodies: list[dict[str, object]],
    rounds: int,
) -> list[float]:
    timings: list[float] = []
    for body in bodies:  # warm-up
        assert post(body, sign()) == 200
    for _ in range(rounds):
        for body in bodies:
            headers = sign()
            started = time.perf_counter()
            status = post(body, headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    return timings


if __name__ == "__main__":
    raise SystemExit(main())
