"""The one clock of the test suite.

Every test, fixture and child process sees the same wall clock: the suite's instant, 12:00 UTC on the real
UTC date plus ``TEST_CLOCK_SHIFT_DAYS`` days (0 unless set; CI also runs the suite with 400), ticking from
the moment the suite starts. Starting at noon means no run crosses midnight, so a date computed by the test
and one computed by a server it started always agree.

``pin()`` (called once from ``conftest.py``, before any test module is imported) moves this process's wall
clock with time-machine and exports the offset to child processes, whose ``sitecustomize``
(``tests/clock_shim``) applies it at start-up. ``TODAY`` is the suite's date: tests pass it as ``today`` to
the rules and date every fixture (FHIR server data, vignettes, demo patients, store rows) from it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

import time_machine

from support.paths import CLOCK_SHIM_DIR

OFFSET_VARIABLE = "TEST_CLOCK_OFFSET_SECONDS"
SHIFT_VARIABLE = "TEST_CLOCK_SHIFT_DAYS"
SHIM_DIR = CLOCK_SHIM_DIR


def _suite_offset_seconds() -> float:
    """Seconds from the real wall clock to the suite's instant (noon UTC of the real date + shift)."""
    real = time.time()
    shift_days = int(os.environ.get(SHIFT_VARIABLE, "0") or "0")
    suite_day = datetime.fromtimestamp(real, UTC).date() + timedelta(days=shift_days)
    noon = datetime(suite_day.year, suite_day.month, suite_day.day, 12, tzinfo=UTC)
    return noon.timestamp() - real


def pin() -> date:
    """Move this process's wall clock to the suite's instant (once) and export it to child processes.

    When the pytest process itself was started with the shim active (the offset already in the
    environment), its ``sitecustomize`` has moved the clock and there is nothing to do."""
    if not os.environ.get(OFFSET_VARIABLE):
        offset = _suite_offset_seconds()
        os.environ[OFFSET_VARIABLE] = repr(offset)
        time_machine.travel(time.time() + offset, tick=True).start()
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(SHIM_DIR) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(SHIM_DIR), *[p for p in paths if p]])
    return datetime.now(UTC).date()


TODAY: date = pin()
