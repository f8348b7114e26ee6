#!/usr/bin/env bash
# Install everything the tests need, then run them: the README's test command, and what .ci/run runs.
#  - PostgreSQL server binaries (Debian's package, only when missing) for the store tests, which start their own
#    private server on 127.0.0.1;
#  - wrk (Debian's package, only when missing) for the benchmark suite's tiny-round test;
#  - the Python package with its test extra, in .venv;
#  - the Node packages of the FHIR test server (tests/fhir_server) are installed by its pytest fixture (npm ci).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k vignette`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-postgresql.sh
bash scripts/install-wrk.sh
python3 -m venv .venv
.venv/bin/pip install -e '.[test]'
.venv/bin/python -m pytest "$@"
