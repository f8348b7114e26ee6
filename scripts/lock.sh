#!/usr/bin/env bash
# Refresh the lock files (exact versions with hashes) from pyproject.toml, with pip-tools:
#   requirements/runtime.txt  what the service needs (the Dockerfile installs it)
#   requirements/test.txt     runtime + the test extra (scripts/test.sh installs it)
# Run after changing a dependency in pyproject.toml; add --upgrade to move every pin to the newest release.
# tests/tooling/test_lock_files.py fails when pyproject.toml asks for a package the lock files do not pin.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-lock
.venv-lock/bin/pip install -q 'pip-tools>=7.4'
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links "$@")
.venv-lock/bin/pip-compile "${common[@]}" --output-file requirements/runtime.txt pyproject.toml
.venv-lock/bin/pip-compile "${common[@]}" --extra test --output-file requirements/test.txt pyproject.toml
