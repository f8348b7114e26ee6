"""CPU per hook call, in-process (a measurement, not a test): reproduces BENCHMARKS.md's "CPU per hook call".

    .venv/bin/python scripts/benchmark_cpu.py                          # charts 10, 200, 1000; 300 calls each
    .venv/bin/python scripts/benchmark_cpu.py --sizes 200 --profile    # + a cProfile of the calls (top 40)
    .venv/bin/python scripts/benchmark_cpu.py --sizes 10 --rounds 2    # tiny

For each generated chart (``bench_charts``: ``--sizes`` resources in the chart, the prefetch templates select
part of them) it posts the order-select body an EHR sends with full prefetch to the app through the Flask test
client (auth off, audit to a scratch SQLite store), ``--rounds`` times after 3 warm-up calls, and reports the
process CPU time (``time.process_time``) per call: median and p90. The floor is ``orjson.loads`` of the same
body (CPU, median), measured in the same run; the ratio is median / floor. Process CPU time is what machine
contention inflates least (wall time on a shared machine is not).

A second line per chart is the rules alone: the patient record built from the same prefetch and
``evaluate_orders`` inside ``fhir_json.read_once``, as one hook call runs them (no HTTP, parse, cards, audit).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from bench_charts import chart_patient, hook_body, service_id

from cds_service import Settings, create_app
from cds_service.patient_data import build_record
from fhir_mappings import evaluate_orders, find_dry_needling_orders, load_knowledge
from fhir_mappings.fhir_json import bundle_resources, read_once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="10,200,1000", help="chart sizes (resources), comma-separated")
    parser.add_argument("--rounds", type=int, default=300, help="calls per chart size")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the calls (top 40)")
    parser.add_argument("--today", type=date.fromisoformat, default=datetime.now(UTC).date())
    args = parser.parse_args()

    today: date = args.today
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="dn-cds-cpu-")), auth="off")
    client = create_app(settings, today=lambda: today).test_client()
    path = f"/cds-services/{service_id()}"
    print("CPU per order-select call, in-process (Flask test client, auth off, time.process_time)")
    for size in (int(size) for size in args.sizes.split(",")):
        body = orjson.dumps(hook_body(chart_patient(size, today)))

        def call(body: bytes = body, size: int = size) -> None:
            response = client.post(path, data=body, headers={"Content-Type": "application/json"})
            if response.status_code != 200 or not (response.get_json() or {}).get("cards"):
                raise SystemExit(f"chart {size}: HTTP {response.status_code} {response.get_data(True)[:300]}")

        for _ in range(3):  # warm-up
            call()
        timings = cpu_timings(call, args.rounds)
        floor = statistics.median(cpu_timings(lambda body=body: orjson.loads(body), max(args.rounds, 50)))
        median, p90 = percentile(timings, 50), percentile(timings, 90)
        print(
            f"  chart {size:5} ({selected(body):4} resources sent, {len(body) / 1024:5.0f} KB): "
            f"median {median:7.2f} ms  p90 {p90:7.2f} ms;  orjson floor {floor:6.3f} ms;  "
            f"median = {median / floor:5.1f}x floor  ({len(timings)} calls)"
        )
        rules = cpu_timings(rules_only(body, today), args.rounds)
        print(
            f"      rules only (record + evaluate_orders): median {percentile(rules, 50):7.2f} ms  "
            f"p90 {percentile(rules, 90):7.2f} ms"
        )
        if args.profile:
            print(profile(call, args.rounds))
    return 0


def rules_only(body: bytes, today: date) -> Callable[[], object]:
    """One evaluation of the body's order-select call by the rules, as the service runs it."""
    request = orjson.loads(body)
    context = request["context"]
    resources: list[dict[str, Any]] = []
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            resources += list(bundle_resources(value))
        elif isinstance(value, dict):
            resources.append(value)
    knowledge = load_knowledge()
    orders = find_dry_needling_orders(context["draftOrders"], knowledge, context.get("selections"))

    def evaluate() -> object:
        with read_once():
            record = build_record(context["patientId"], resources)
            return evaluate_orders(orders, record, knowledge, today, context["draftOrders"])

    return evaluate


def cpu_timings(work: Callable[[], object], rounds: int) -> list[float]:
    """CPU milliseconds of each of ``rounds`` calls of ``work``."""
    timings = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        timings.append((time.process_time() - started) * 1000)
    return timings


def percentile(timings: list[float], point: int) -> float:
    if len(timings) < 2:
        return timings[0] if timings else float("nan")
    return statistics.quantiles(timings, n=100, method="inclusive")[point - 1]


def selected(body: bytes) -> int:
    """Resources the prefetch carries (what the service evaluates)."""
    count = 0
    for value in (orjson.loads(body).get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            count += len(value.get("entry") or [])
        elif value is not None:
            count += 1
    return count


def profile(call: Callable[[], object], rounds: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
    return out.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
