"""What a hook call costs around evaluation, in-process (a measurement, not a test). Reproduces the "edge"
table of BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_edge.py                  # 200-resource chart, 300 calls per figure
    .venv/bin/python scripts/benchmark_edge.py --rounds 3       # tiny

For the generated chart of ``--size`` resources (``bench_charts``; the order-select body with full prefetch):

- the body reader: the strict reader (``json.loads`` with the duplicate-key and strict-number hooks) + the
  limits walk, against the reader in use (``cds_service.json_body.read_body``: orjson when it can vouch for
  the result), and the bare ``orjson.loads`` floor; medians of ``--rounds`` reads;
- the edge alone, auth off and on: a hook call through the Flask test client refused with 400 after parsing
  (``hookInstance`` not a UUID), so the token check, the body read and the audit write (with the token id,
  auth on) run and evaluation does not; and the whole call on the chart. Median process CPU time and wall
  time per call; each call carries its own pre-signed ES384 token (auth on) and writes its audit record to a
  scratch SQLite store (``synchronous=FULL``, on the scratch directory's disk).

CPU time is the figure to compare on a shared machine (contention inflates wall time far more).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
from bench_charts import chart_patient, hook_body, service_id
from bench_server import token_signer

from cds_service.app import create_app
from cds_service.limits import MAX_JSON_DEPTH, check_sizes, check_text
from cds_service.settings import Settings

try:
    from cds_service.json_body import read_body, read_strict
except ImportError:  # a tree before issue 14 item 3 (run from another checkout to compare): calls only
    read_body = read_strict = None  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--size", type=int, default=200, help="chart size (resources in the chart)")
    parser.add_argument("--rounds", type=int, default=300, help="calls (or reads) per figure")
    parser.add_argument("--today", type=date.fromisoformat, default=datetime.now(UTC).date())
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    body = orjson.dumps(hook_body(chart_patient(args.size, args.today)))
    text = body.decode("utf-8")
    print(f"chart {args.size}: body {len(body) / 1024:.0f} KB")
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="dn-cds-edge-")))
    limits = (settings.max_string_chars, settings.max_array_items)

    def strict() -> None:
        assert read_strict is not None
        value = read_strict(text)
        check_sizes(value, *limits, max_depth=MAX_JSON_DEPTH)
        check_text(value, text)

    readers: list[tuple[str, Callable[[int], object]]] = [
        ("strict reader + limits walk", lambda _index: strict()),
        ("reader in use (read_body)", lambda _index: read_body(text, *limits) if read_body else None),
        ("orjson.loads alone (floor)", lambda _index: orjson.loads(body)),
    ]
    if read_body is None or read_strict is None:
        print("  body reader: this tree has no cds_service.json_body (before issue 14 item 3): calls only")
        readers = []
    else:
        print("  body reader (median of reads):")
    for label, read in readers:
        _cpu, wall = measure(read, args.rounds)
        print(f"    {label:30} {wall:7.3f} ms")

    refused = orjson.dumps({"hook": "order-select", "hookInstance": "not-a-uuid", "context": {}})
    for auth in (False, True):
        print(f"  auth {'on' if auth else 'off'} (median per call: CPU / wall):")
        for label, payload, status in (
            ("edge only (400 after parsing)", refused, 400),
            ("whole call", body, 200),
        ):
            cpu, wall = measure(caller(auth, payload, status, args.rounds + 3), args.rounds)
            print(f"    {label:30} {cpu:7.3f} / {wall:7.3f} ms")
    return 0


def caller(auth: bool, payload: bytes, status: int, calls: int) -> Callable[[int], object]:
    """A fresh app (scratch store) and a function making its call number ``index`` (own token, auth on);
    three warm-up calls made (and the once-a-minute purge of expired token ids done)."""
    data_dir = Path(tempfile.mkdtemp(prefix="dn-cds-edge-"))
    settings = Settings(data_dir=data_dir, auth="required" if auth else "off")
    client = create_app(settings).test_client()
    path = f"/cds-services/{service_id()}"
    sign = token_signer(settings.base_url + path, data_dir) if auth else None
    tokens = [sign() for _ in range(calls + 3)] if sign else []

    def call(index: int) -> None:
        headers = {"Content-Type": "application/json"}
        if tokens:
            headers["Authorization"] = f"Bearer {tokens[index]}"
        answered = client.post(path, data=payload, headers=headers)
        if answered.status_code != status:
            raise SystemExit(f"HTTP {answered.status_code}: {answered.get_data(as_text=True)[:300]}")

    for index in range(3):
        call(calls + index)
    return call


def measure(function: Callable[[int], object], rounds: int) -> tuple[float, float]:
    """Median process CPU and wall milliseconds of ``function(index)`` over ``rounds`` calls."""
    cpu: list[float] = []
    wall: list[float] = []
    for index in range(rounds):
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        function(index)
        cpu.append((time.process_time() - cpu_started) * 1000)
        wall.append((time.perf_counter() - wall_started) * 1000)
    return statistics.median(cpu), statistics.median(wall)


if __name__ == "__main__":
    sys.exit(main())
