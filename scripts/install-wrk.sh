#!/usr/bin/env bash
# Make wrk (HTTP load generator, Debian package "wrk") available for scripts/benchmark_charts.py and its
# tiny-round test (tests/tooling/test_benchmark_suite.py, which fails under CI when wrk is missing).
# Idempotent: does nothing when wrk is already on PATH.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    echo "install-wrk: wrk found; nothing to install"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-wrk: no wrk and no apt-get; install wrk (https://github.com/wg/wrk) and put it on PATH" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-wrk: installing Debian's wrk package"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends wrk
command -v wrk >/dev/null 2>&1 || { echo "install-wrk: wrk installed but not on PATH" >&2; exit 1; }
echo "install-wrk: done"
