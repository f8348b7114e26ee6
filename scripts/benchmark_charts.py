"""Hook calls on generated charts of realistic size, against ``dn-cds serve`` defaults (a measurement, not a
test). Reproduces the table of BENCHMARKS.md.

    .venv/bin/python scripts/benchmark_charts.py                       # everything (about 5 minutes)
    .venv/bin/python scripts/benchmark_charts.py --sizes 200 --auth off --no-load
    .venv/bin/python scripts/benchmark_charts.py --rounds 3 --seconds 1 --connections 2 --sizes 10   # tiny
    .venv/bin/python scripts/benchmark_charts.py --sizes 200 --env DN_CDS_WORKERS=3   # other serving settings

For each chart size (``--sizes``, resources in the chart; the prefetch templates select part of them) and
each authentication mode (``--auth``: off, on or both), it starts ``dn-cds serve`` with its default serving
settings and a scratch data directory, then:

- single client: ``--rounds`` order-select calls over one keep-alive connection; p50/p90/p99 latency, and the
  ``orjson.loads`` time of the same body measured in the same run (the floor), the ratio to it;
- the stack alone (unless ``--no-stack-floor``): the same single-client calls against the same gunicorn
  command and configuration serving ``stack_floor_app`` (read the body, ``orjson.loads`` it, answer no
  cards): the floor the fixed stack (Python, Flask, gunicorn with gevent) puts under any service;
- closed-loop load (unless ``--no-load``; needs ``wrk``, the Debian package): ``--connections`` (default 10
  and 50) for ``--seconds`` each; requests/s, p50/p90/p99, non-200 answers and socket errors. With auth on,
  every request carries its own token from a pool signed beforehand (tokens are single-use). Each load run
  also reports the server's CPU time per request (master and workers, from /proc) and how many cores it got:
  on a shared machine these say more than the wall-clock figures.

``--env NAME=VALUE`` (repeatable) passes serving settings to the server (``DN_CDS_WORKERS``,
``GUNICORN_CMD_ARGS``, ...) to compare them with the defaults.

The order-select body is the one an EHR sends with full prefetch (``bench_charts.hook_body``).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import requests
from bench_charts import chart_patient, hook_body, service_id
from bench_server import Served, group_cpu_seconds, machine_ticks, serving, token_signer

WRK_SCRIPT = """
local body_file, tokens_file, threads = "{body}", "{tokens}", {threads}
local f = io.open(body_file, "rb"); local body = f:read("*a"); f:close()
local tokens = {{}}
if tokens_file ~= "" then
  for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
end
local counter = 1
local id = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) id = tonumber(wrk.thread:get("id")) or 1 end
local n = 0
function request()
  local headers = {{["Content-Type"] = "application/json"}}
  if #tokens > 0 then
    local index = (n * threads + id - 1) % #tokens + 1
    headers["Authorization"] = "Bearer " .. tokens[index]
  end
  n = n + 1
  return wrk.format("POST", "{path}", headers, body)
end
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="10,200,1000", help="chart sizes (resources), comma-separated")
    parser.add_argument("--auth", choices=["off", "on", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=300, help="single-client calls per size and mode")
    parser.add_argument("--connections", default="10,50", help="wrk connection counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each wrk run")
    parser.add_argument("--load-size", type=int, default=200, help="chart size of the load runs")
    parser.add_argument("--no-load", action="store_true", help="single client only (no wrk)")
    parser.add_argument("--max-rate", type=int, default=1500, help="req/s the token pool is sized for")
    parser.add_argument(
        "--no-stack-floor",
        action="store_true",
        help="skip the single-client run against the stack with no service in it (stack_floor_app)",
    )
    parser.add_argument("--today", type=date.fromisoformat, default=datetime.now(UTC).date())
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="server setting (repeatable)"
    )
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.env)

    sizes = [int(size) for size in args.sizes.split(",")]
    modes = [False, True] if args.auth == "both" else [args.auth == "on"]
    connections = [int(count) for count in args.connections.split(",")]
    wrk = shutil.which("wrk")
    if not args.no_load and wrk is None:
        print(
            "wrk is not installed (Debian: apt-get install -y wrk): the load runs are skipped",
            file=sys.stderr,
        )
    print(describe_machine())
    if server_env:
        print(f"server settings: {' '.join(args.env)}")
    if not args.no_stack_floor:
        with serving(auth=False, env=server_env, stack_floor=True) as served:
            endpoint = f"{served.url}/cds-services/{service_id()}"
            stack = "gunicorn + gevent + Flask, body read and parsed, no service"
            print(f"\n== the stack alone ({stack}) at {served.url}")
            for size in sizes:
                body = orjson.dumps(hook_body(chart_patient(size, args.today)))
                single_client(endpoint, body, size, args.rounds, None, want_cards=False)
    for auth in modes:
        with serving(auth=auth, env=server_env) as served:
            endpoint = f"{served.url}/cds-services/{service_id()}"
            sign = token_signer(endpoint, served.data_dir) if auth else None
            label = "auth on (ES384 JWT per call)" if auth else "auth off"
            print(f"\n== {label}: dn-cds serve defaults at {served.url}")
            for size in sizes:
                body = orjson.dumps(hook_body(chart_patient(size, args.today)))
                single_client(endpoint, body, size, args.rounds, sign)
            if not args.no_load and wrk is not None:
                body = orjson.dumps(hook_body(chart_patient(args.load_size, args.today)))
                for count in connections:
                    load(
                        wrk, endpoint, body, count, args.seconds, sign, args.max_rate, args.load_size, served
                    )
    return 0


def describe_machine() -> str:
    load = os.getloadavg()
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start"
    )


def selected(body: bytes) -> int:
    """Resources the prefetch carries (what the service evaluates)."""
    prefetch = orjson.loads(body).get("prefetch") or {}
    count = 0
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            count += len(value.get("entry") or [])
        elif value is not None:
            count += 1
    return count


def orjson_floor(body: bytes, rounds: int = 200) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        orjson.loads(body)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def single_client(
    endpoint: str,
    body: bytes,
    size: int,
    rounds: int,
    sign: Callable[[], str] | None,
    *,
    want_cards: bool = True,
) -> None:
    timings: list[float] = []
    with requests.Session() as session:
        for index in range(rounds + 3):  # 3 warm-up calls
            headers = {"Content-Type": "application/json"}
            if sign is not None:
                headers["Authorization"] = f"Bearer {sign()}"
            started = time.perf_counter()
            response = session.post(endpoint, data=body, headers=headers, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200 or (want_cards and not response.json().get("cards")):
                raise SystemExit(f"chart {size}: HTTP {response.status_code} {response.text[:300]}")
            if index >= 3:
                timings.append(elapsed)
    floor = orjson_floor(body)
    p50, p90, p99 = percentiles(timings)
    print(
        f"  single client, chart {size:5} ({selected(body):4} resources sent, {len(body) / 1024:6.0f} KB): "
        f"p50 {p50:7.2f}  p90 {p90:7.2f}  p99 {p99:7.2f} ms;  orjson floor {floor:6.3f} ms;  "
        f"p50 = {p50 / floor:5.1f}x floor  ({len(timings)} calls)"
    )


def percentiles(timings: list[float]) -> tuple[float, float, float]:
    if len(timings) < 2:
        value = timings[0] if timings else float("nan")
        return value, value, value
    q = statistics.quantiles(timings, n=100, method="inclusive")
    return statistics.median(timings), q[89], q[98]


def load(
    wrk: str,
    endpoint: str,
    body: bytes,
    connections: int,
    seconds: float,
    sign: Callable[[], str] | None,
    max_rate: int,
    size: int,
    served: Served,
) -> None:
    threads = min(2, connections)
    with tempfile.TemporaryDirectory(prefix="dn-cds-wrk-") as scratch:
        body_file = Path(scratch) / "body.json"
        body_file.write_bytes(body)
        tokens_file = Path(scratch) / "tokens.txt"
        pool = 0
        if sign is not None:
            pool = int(max_rate * (seconds + 2))
            tokens_file.write_text("\n".join(sign() for _ in range(pool)) + "\n")
        path = "/" + endpoint.split("/", 3)[3]
        script = Path(scratch) / "call.lua"
        script.write_text(
            WRK_SCRIPT.format(
                body=body_file, tokens=tokens_file if sign is not None else "", threads=threads, path=path
            )
        )
        base = endpoint[: endpoint.index("/", len("http://"))]
        command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        command += ["-s", str(script), "--timeout", "10s", base]
        ticks_before = machine_ticks()
        cpu_before, started = group_cpu_seconds(served.process_group), time.monotonic()
        output = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
        cpu = group_cpu_seconds(served.process_group) - cpu_before
        elapsed = time.monotonic() - started
        ticks = [after - before for after, before in zip(machine_ticks(), ticks_before, strict=True)]
    result = parse_wrk(output)
    busy, steal = 100 * (1 - ticks[1] / max(1, ticks[0])), 100 * ticks[2] / max(1, ticks[0])
    exhausted = sign is not None and result["requests"] > pool
    print(
        f"  wrk {connections:3} connections, {seconds:g} s, chart {size}: {result['rate']:7.1f} req/s;  "
        f"p50 {result['p50']:7.1f}  p90 {result['p90']:7.1f}  p99 {result['p99']:7.1f} ms;  "
        f"non-200 {result['non_2xx']:.0f}, socket errors {result['socket_errors']:.0f};  "
        f"server CPU {cpu / max(1.0, result['requests']) * 1000:.1f} ms/request, {cpu / elapsed:.2f} cores;  "
        f"machine {busy:.0f}% busy, steal {steal:.1f}%"
        + ("  (TOKEN POOL EXHAUSTED: raise --max-rate)" if exhausted else "")
    )


def parse_wrk(output: str) -> dict[str, float]:
    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rate": float(rate.group(1)) if rate else float("nan"),
        "requests": float(total.group(1)) if total else 0.0,
        "p50": latency("50"),
        "p90": latency("90"),
        "p99": latency("99"),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "socket_errors": float(sum(int(n) for n in errors.groups())) if errors else 0.0,
    }


if __name__ == "__main__":
    sys.exit(main())
