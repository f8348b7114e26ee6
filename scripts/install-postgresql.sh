#!/usr/bin/env bash
# Make PostgreSQL server binaries (initdb, postgres) available for the store tests and benchmarks.
# Idempotent: does nothing when they are already installed (Debian: /usr/lib/postgresql/<version>/bin, or
# initdb on PATH, or $DN_CDS_TEST_POSTGRESQL_BIN); otherwise installs Debian's postgresql package.
# The tests start their own private server on 127.0.0.1 (tests/support/postgresql.py); the package's own
# cluster, if the package starts one, is not used.
set -euo pipefail

have_server() {
    if [ -n "${DN_CDS_TEST_POSTGRESQL_BIN:-}" ] && [ -x "${DN_CDS_TEST_POSTGRESQL_BIN}/initdb" ]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

if have_server; then
    echo "install-postgresql: PostgreSQL server binaries found; nothing to install"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgresql: no PostgreSQL server and no apt-get; install PostgreSQL (initdb, postgres)" >&2
    echo "  and set DN_CDS_TEST_POSTGRESQL_BIN to its bin directory" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-postgresql: installing Debian's postgresql package"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends postgresql

if ! have_server; then
    echo "install-postgresql: postgresql installed but initdb was not found" >&2
    exit 1
fi
echo "install-postgresql: done"
