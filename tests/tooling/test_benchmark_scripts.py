"""The benchmark scripts still run against the current service (one tiny round each).

They measure; they are never timed here. This only keeps them from rotting: a benchmark that no longer
authenticates or no longer matches the prefetch keys fails here, not on the day someone needs its figures.

``wrk`` (Debian package ``wrk``) is needed for the chart benchmark's load runs: without it that test is
skipped on a developer machine and fails under CI (``CI`` set), so CI cannot silently stop covering them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.clock import TODAY
from support.paths import ROOT

pytestmark = pytest.mark.slow  # runs the benchmark scripts


def _run(script: str, *args: str, tmp_path: Path) -> str:
    """The script's output; run without the test session's service settings, on a scratch data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_hook_latency_benchmark_runs_in_process(tmp_path: Path) -> None:
    output = _run("benchmark.py", "--rounds", "1", tmp_path=tmp_path)
    assert "order-select calls over" in output and "median" in output


def test_fetch_benchmark_runs_against_its_own_fhir_server(tmp_path: Path) -> None:
    # The script starts (and stops) a FHIR server of its own: loading its demo patients into the session's
    # shared server would re-date data that other tests read.
    output = _run("benchmark_fetch.py", "--rounds", "1", "--today", TODAY.isoformat(), tmp_path=tmp_path)
    for mode in ("full prefetch", "partial prefetch", "no prefetch"):
        assert mode in output


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param([], id="store"),
        pytest.param(["--http", "--workers", "2", "--threads", "2"], id="http"),
    ],
)
def test_store_benchmark_runs_on_sqlite(mode: list[str], tmp_path: Path) -> None:
    output = _run("benchmark_store.py", "--seconds", "0.5", "--no-postgresql", *mode, tmp_path=tmp_path)
    assert "SQLite" in output


def test_cpu_benchmark_reports_each_chart_against_its_orjson_floor(tmp_path: Path) -> None:
    output = _run(
        "benchmark_cpu.py",
        *("--today", TODAY.isoformat(), "--sizes", "10", "--rounds", "2", "--profile"),
        tmp_path=tmp_path,
    )

    lines = [line for line in output.splitlines() if line.strip().startswith("chart")]
    assert len(lines) == 1
    assert "(   7 resources sent" in lines[0]
    assert "orjson floor" in lines[0] and "x floor  (2 calls)" in lines[0]
    assert "rules only (record + evaluate_orders): median" in output
    assert "function calls" in output  # the profile


def test_edge_benchmark_runs_the_body_readers_and_the_edge_with_auth_off_and_on(tmp_path: Path) -> None:
    output = _run("benchmark_edge.py", "--today", TODAY.isoformat(), "--rounds", "2", tmp_path=tmp_path)

    assert "reader in use (read_body)" in output
    assert output.count("edge only (400 after parsing)") == 2 and output.count("whole call") == 2


@pytest.mark.gunicorn  # starts dn-cds serve and drives it with wrk
def test_chart_benchmark_runs_single_client_and_wrk_load_with_auth_off_and_on(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        message = "wrk is not installed (apt-get install -y wrk): the benchmark's load runs are not covered"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    output = _run(
        "benchmark_charts.py",
        *("--today", TODAY.isoformat()),
        *("--sizes", "10", "--rounds", "2", "--seconds", "1", "--connections", "2", "--load-size", "10"),
        *("--max-rate", "400"),
        tmp_path=tmp_path,
    )

    assert "== the stack alone" in output and "== auth off" in output and "== auth on" in output
    assert output.count("single client, chart    10") == 3
    assert output.count("wrk   2 connections") == 2
    assert "TOKEN POOL EXHAUSTED" not in output
    assert "non-200 0," in output.split("== auth on")[1]  # every pooled token accepted once


@pytest.mark.gunicorn  # starts dn-cds serve and holds slow connections to it
def test_slow_client_benchmark_runs(tmp_path: Path) -> None:
    output = _run(
        "benchmark_slow_clients.py",
        *("--today", TODAY.isoformat()),
        *("--idle", "4", "--trickle", "2", "--seconds", "2", "--interval", "0.5", "--chart", "10"),
        tmp_path=tmp_path,
    )

    assert "slow connections opened" in output
    assert "real calls:" in output
