"""The test suite's clock, in every Python process the tests start.

``tests/support/clock.py`` moves the pytest process's wall clock to the suite's instant and puts this
directory on ``PYTHONPATH`` with ``TEST_CLOCK_OFFSET_SECONDS`` (suite instant minus real instant) in the
environment.
Python runs ``sitecustomize`` at start-up, so every Python child (``dn-cds serve`` and its gunicorn workers,
the CLI, the benchmark scripts) shifts its wall clock by the same offset and agrees with the tests on what
"now" and "today" are. ``time.monotonic``, ``perf_counter`` and ``sleep`` are untouched (time-machine shifts
only the wall clock), so timeouts and gunicorn's heartbeat behave as usual.

This file is never imported by pytest as a plugin, nor installed with the package: it only acts when this
directory is on ``PYTHONPATH`` and the variable is set.
"""

from __future__ import annotations

import os


def _shift_wall_clock() -> None:
    offset = os.environ.get("TEST_CLOCK_OFFSET_SECONDS")
    if not offset:
        return
    import time

    import time_machine

    time_machine.travel(time.time() + float(offset), tick=True).start()


_shift_wall_clock()
