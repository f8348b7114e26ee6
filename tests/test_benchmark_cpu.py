"""The in-process CPU benchmark (scripts/benchmark_cpu.py) still runs: one tiny round on the smallest chart,
with its profile. It measures; nothing here is timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import TODAY

ROOT = Path(__file__).resolve().parent.parent


def test_cpu_benchmark_reports_each_chart_against_its_orjson_floor(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "benchmark_cpu.py"),
            *("--today", TODAY.isoformat(), "--sizes", "10", "--rounds", "2", "--profile"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = [line for line in completed.stdout.splitlines() if line.strip().startswith("chart")]
    assert len(lines) == 1
    assert "(   7 resources sent" in lines[0]
    assert "orjson floor" in lines[0] and "x floor  (2 calls)" in lines[0]
    assert "rules only (record + evaluate_orders): median" in completed.stdout
    assert "function calls" in completed.stdout  # the profile
