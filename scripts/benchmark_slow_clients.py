"""Slow-client run (a measurement, not a test): can idle and trickling connections starve real hook calls?

    .venv/bin/python scripts/benchmark_slow_clients.py                  # 200 idle + 50 trickling, 60 s
    .venv/bin/python scripts/benchmark_slow_clients.py --url http://127.0.0.1:8080 --data-dir DIR

Starts ``dn-cds serve`` with its defaults (authentication required; calls signed as the local client) unless
``--url`` names a running one. Then holds ``--idle`` connections that send nothing, and ``--trickle``
connections of which half send one header line every 5 s and half send complete, signed headers and then
trickle a body (10 bytes a second), as an authenticated EHR on a bad link would. A connection the server
closes is reopened 0.2 s later, so the pressure stays on. Meanwhile a client makes one real order-select call
(a new connection each time, as a fresh EHR worker would) every
``--interval`` seconds and reports how many were answered (200) within 1 s, and the latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import requests
from bench_charts import chart_patient, hook_body, service_id
from bench_server import serving

from cds_service.local_client import sign_service_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", help="base URL of a running service (default: start dn-cds serve)")
    parser.add_argument("--data-dir", type=Path, help="with --url: the service's DN_CDS_DATA_DIR (signing)")
    parser.add_argument("--idle", type=int, default=200, help="connections that send nothing")
    parser.add_argument("--trickle", type=int, default=50, help="connections that trickle headers or body")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the slow connections are held")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between real calls")
    parser.add_argument("--chart", type=int, default=200, help="generated chart size of the real calls")
    parser.add_argument("--today", type=date.fromisoformat, default=datetime.now(UTC).date())
    args = parser.parse_args()

    body = orjson.dumps(hook_body(chart_patient(args.chart, args.today)))
    if args.url:
        if args.data_dir is None:
            parser.error("--url needs --data-dir (the service's DN_CDS_DATA_DIR, to sign the calls)")
        return run(args, args.url, args.data_dir, body)
    with serving(auth=True) as served:
        return run(args, served.url, served.data_dir, body)


def run(args: argparse.Namespace, base_url: str, data_dir: Path, body: bytes) -> int:
    url = f"{base_url}/cds-services/{service_id()}"
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    stop = threading.Event()
    pressure = Pressure(lambda: sign_service_request(url, data_dir=data_dir)["Authorization"])
    attack = threading.Thread(
        target=lambda: asyncio.run(pressure.hold(host, port, args.idle, args.trickle, stop)), daemon=True
    )
    attack.start()
    pressure.ready.wait(timeout=30)
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        headers = {"Content-Type": "application/json", **sign_service_request(url, data_dir=data_dir)}
        started = time.perf_counter()
        try:
            response = requests.post(url, data=body, headers=headers, timeout=10)
            elapsed = time.perf_counter() - started
            if response.status_code == 200 and "cards" in response.json():
                latencies.append(elapsed)
            else:
                failures.append(f"HTTP {response.status_code}")
        except requests.RequestException as error:
            failures.append(type(error).__name__)
        time.sleep(max(0.0, args.interval - (time.perf_counter() - started)))
    stop.set()
    attack.join(timeout=15)
    calls = len(latencies) + len(failures)
    within = sum(1 for latency in latencies if latency < 1.0)
    print(
        f"slow clients: {args.idle} idle + {args.trickle} trickling connections held {args.seconds:g} s "
        f"against {base_url}"
    )
    print(
        f"  slow connections opened {pressure.opened}, closed by the server {pressure.closed_by_server}, "
        f"open at the end {pressure.open_now}"
    )
    print(f"  real calls: {calls}, answered 200 within 1 s: {within}, failed: {len(failures)} {failures[:5]}")
    if latencies:
        ordered = sorted(latencies)
        q = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else [ordered[0]] * 99
        print(
            f"  latency ms  p50 {statistics.median(ordered) * 1000:.1f}  p99 {q[98] * 1000:.1f}"
            f"  max {ordered[-1] * 1000:.1f}"
        )
    verdict = "PASS" if calls and within == calls else "FAIL"
    print(f"  {verdict}: every real call answered 200 within 1 s" if verdict == "PASS" else f"  {verdict}")
    return 0


class Pressure:
    """Idle and trickling connections, reopened whenever the server closes one."""

    def __init__(self, authorization: Callable[[], str]) -> None:
        self.authorization = authorization
        self.ready = threading.Event()
        self.opened = 0
        self.closed_by_server = 0
        self.open_now = 0

    async def hold(self, host: str, port: int, idle: int, trickle: int, stop: threading.Event) -> None:
        kinds = ["idle"] * idle + ["headers"] * (trickle // 2) + ["body"] * (trickle - trickle // 2)
        tasks = [asyncio.create_task(self._connection(host, port, kind, stop)) for kind in kinds]
        while self.opened < len(kinds) and not stop.is_set():
            await asyncio.sleep(0.05)
        self.ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, host: str, port: int, kind: str, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self.opened += 1
            self.open_now += 1
            try:
                await self._pester(reader, writer, host, kind, stop)
                if not stop.is_set():
                    self.closed_by_server += 1
            except (OSError, asyncio.IncompleteReadError):
                self.closed_by_server += 1
            finally:
                self.open_now -= 1
                writer.close()
            await asyncio.sleep(0.2)  # then reopen: steady pressure, not a reconnect flood

    async def _pester(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        kind: str,
        stop: threading.Event,
    ) -> None:
        """Returns when the server closed the connection (or at stop)."""
        closed = asyncio.create_task(reader.read(1))  # the server answering or closing ends the pestering
        if kind != "idle":
            writer.write(f"POST /cds-services/{service_id()} HTTP/1.1\r\nHost: {host}\r\n".encode())
        if kind == "body":
            writer.write(f"Authorization: {self.authorization()}\r\n".encode())
            writer.write(b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        step = 0
        while not stop.is_set() and not closed.done():
            if kind == "headers" and step % 50 == 0:
                writer.write(f"X-Slow-{step}: a\r\n".encode())
            elif kind == "body" and step % 10 == 0:
                writer.write(b'"a": 1, ' if step else b'"b": 0, ')
            await writer.drain()
            await asyncio.wait([closed], timeout=0.1)
            step += 1
        if not closed.done():
            closed.cancel()


if __name__ == "__main__":
    sys.exit(main())
