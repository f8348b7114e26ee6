"""Hook latency with full prefetch vs. no prefetch (the service reads the FHIR server itself). A measurement,
not a test.

    .venv/bin/python scripts/benchmark_fetch.py      # starts the local test FHIR server (tests/fhir_server)
    .venv/bin/python scripts/benchmark_fetch.py --fhir-server http://127.0.0.1:8103/fhir/R4  # an existing one
    .venv/bin/python scripts/benchmark_fetch.py --url http://127.0.0.1:8080  # a running service (its
        DN_CDS_FHIR_SERVER_ALLOWLIST must list the FHIR server)

The demo patients are loaded into the FHIR server first (``dn-cds load-patients``). Every demo patient's
order-select call is sent ``--rounds`` times in each mode: full prefetch, one key missing (partial), and no
prefetch. Reports per-call latency percentiles per mode.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests

from cds_service import Settings, create_app
from cds_service.catalog import load_catalog
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.integration_cli import load_patients
from cds_service.local_client import sign_service_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.local_fhir import running_fhir_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--fhir-server", help="FHIR base URL (default: start tests/fhir_server on 127.0.0.1)")
    parser.add_argument("--url", help="base URL of a running service (default: in-process)")
    parser.add_argument("--rounds", type=int, default=50, help="calls per demo patient and mode")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=datetime.now(UTC).date(),
        help="the date the demo patients are dated from and evaluated on (default: today, UTC)",
    )
    args = parser.parse_args()

    today: date = args.today
    with _fhir_server(args.fhir_server) as base:
        assert load_patients(base, today=today) == 0
        service = next(s for s in load_catalog().services if s.hook == "order-select")
        full = [build_hook_request(p, service) for p in load_demo_patients(today)]
        partial = [_without(body, base, "pregnancyObservations") for body in full]
        bare = [_without(body, base, *service.prefetch) for body in full]
        post, sign, where = _poster(args.url, base, service.id, today)
        print(f"{where}; FHIR server {base}; {len(full)} demo patients x {args.rounds} rounds per mode")
        for name, bodies in (("full prefetch", full), ("partial prefetch", partial), ("no prefetch", bare)):
            timings = run(post, sign, bodies, args.rounds)
            q = statistics.quantiles(timings, n=100)
            print(
                f"  {name:17} median {statistics.median(timings):7.2f} ms  p95 {q[94]:7.2f}  p99 {q[98]:7.2f}"
                f"  max {max(timings):7.2f}"
            )
    return 0


def _without(body: dict[str, Any], base: str, *keys: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["fhirServer"] = base
    for key in keys:
        del changed["prefetch"][key]
    return changed


@contextlib.contextmanager
def _fhir_server(given: str | None) -> Iterator[str]:
    if given:
        yield given.rstrip("/")
        return
    with running_fhir_server() as server:
        yield server.base


Poster = Callable[[dict[str, Any], dict[str, str]], Any]


def _poster(
    url: str | None, base: str, service_id: str, today: date
) -> tuple[Poster, Callable[[], dict[str, str]], str]:
    """(post(body, headers), sign() -> headers, description). Calls are signed as the local client (as
    ``dn-cds demo`` does); signing happens before the clock starts."""
    if url:
        session = requests.Session()
        endpoint = f"{url.rstrip('/')}/cds-services/{service_id}"
        data_dir = Settings.from_env().data_dir  # the running service must share DN_CDS_DATA_DIR

        def post_http(body: dict[str, Any], headers: dict[str, str]) -> Any:
            response = session.post(endpoint, json=body, headers=headers, timeout=10)
            return response.status_code, response.json()

        return post_http, lambda: sign_service_request(endpoint, data_dir=data_dir), f"HTTP {url}"
    local = Settings(fhir_server_allowlist=(base,), data_dir=Path(tempfile.mkdtemp(prefix="dn-cds-bench-")))
    client = create_app(local, today=lambda: today).test_client()
    path = f"/cds-services/{service_id}"

    def post_local(body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = client.post(path, json=body, headers=headers)
        return response.status_code, response.get_json()

    def sign_local() -> dict[str, str]:
        return sign_service_request(local.base_url + path, data_dir=local.data_dir)

    return post_local, sign_local, "in-process (Flask test client)"


def run(
    post: Poster, sign: Callable[[], dict[str, str]], bodies: list[dict[str, Any]], rounds: int
) -> list[float]:
    for body in bodies:  # warm-up, and a check that the FHIR server really answered
        status, answer = post(body, sign())
        assert status == 200, (status, answer)
        codes = [card["source"]["topic"]["code"] for card in answer["cards"]]
        assert "patient-data-incomplete" not in codes, "the FHIR server did not answer every query"
    timings: list[float] = []
    for _ in range(rounds):
        for body in bodies:
            headers = sign()
            started = time.perf_counter()
            status, _ = post(body, headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    return timings


if __name__ == "__main__":
    raise SystemExit(main())
