"""``scripts/benchmark_edge.py`` still runs (one tiny round): the body readers and the edge of a hook call,
auth off and on. It measures; nothing here is timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import TODAY

ROOT = Path(__file__).resolve().parent.parent


def test_edge_benchmark_runs(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DN_CDS_")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "benchmark_edge.py"),
            "--today",
            TODAY.isoformat(),
            "--rounds",
            "2",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout
    assert "reader in use (read_body)" in output
    assert output.count("edge only (400 after parsing)") == 2 and output.count("whole call") == 2
