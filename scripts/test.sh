#!/usr/bin/env bash
# Install everything the tests need, then run them: the README's test command, and what .ci/run runs.
# System tools come from scripts/install-tools.sh (Debian packages, one apt-get update, only those missing):
#  - PostgreSQL server binaries (Debian's package, only when missing) for the store tests, which start their own
#    private server on 127.0.0.1;
#  - Debian's Chromium (only when missing) for the browser tests (Playwright drives the system browser);
#  - nginx (Debian's nginx-light, only when missing) for the several-instance test, which starts its own;
#  - wrk (Debian's package, only when missing) for the benchmark suite's tiny-round test;
#  - the locked Python dependencies (requirements/test.txt: exact versions with hashes), then the package itself,
#    in .venv;
#  - the Node packages of the FHIR test server (tests/fhir_server) are installed by its pytest fixture (npm ci).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k vignette`).
# The suite runs on one clock (tests/support/clock.py): noon UTC today, or TEST_CLOCK_SHIFT_DAYS days later.
# Tests run in file order; TEST_RANDOM_ORDER=1 shuffles them (pytest-randomly prints the seed to replay with
# `bash scripts/test.sh -p randomly --randomly-seed=N`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-tools.sh postgresql chromium nginx wrk
python3 -m venv .venv
.venv/bin/pip install --quiet --require-hashes -r requirements/test.txt
.venv/bin/pip install --quiet --no-deps -e .
order=(-p no:randomly)
if [[ "${TEST_RANDOM_ORDER:-0}" == "1" ]]; then
    order=()
fi
.venv/bin/python -m pytest "${order[@]}" "$@"
