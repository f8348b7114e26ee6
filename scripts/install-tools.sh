#!/usr/bin/env bash
# Make the system tools the tests and benchmarks need available, installing Debian packages only for the ones
# that are missing, with one `apt-get update` for all of them. Idempotent. Usage:
#   bash scripts/install-tools.sh [postgresql] [chromium] [nginx] [wrk]     (no argument: all four)
#  - postgresql: server binaries (initdb, postgres) for the store tests and benchmarks, which start their own
#    private server on 127.0.0.1 (tests use /usr/lib/postgresql/<version>/bin, initdb on PATH, or
#    $DN_CDS_TEST_POSTGRESQL_BIN); the package's own cluster, if it starts one, is not used.
#  - chromium: Debian's Chromium (/usr/bin/chromium, or $DN_CDS_TEST_CHROMIUM) for the browser tests, driven by
#    Playwright for Python; Playwright's own browser download is not used.
#  - nginx: Debian's nginx-light for the several-instance test, which starts its own nginx on 127.0.0.1; the
#    packaged server, if Debian starts it, is stopped.
#  - wrk: the HTTP load generator for scripts/benchmark_charts.py and its tiny-round test.
set -euo pipefail

have_postgresql() {
    if [ -n "${DN_CDS_TEST_POSTGRESQL_BIN:-}" ] && [ -x "${DN_CDS_TEST_POSTGRESQL_BIN}/initdb" ]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}
have_chromium() {
    if [ -n "${DN_CDS_TEST_CHROMIUM:-}" ] && [ -x "${DN_CDS_TEST_CHROMIUM}" ]; then
        return 0
    fi
    [ -x /usr/bin/chromium ]
}
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_wrk() { command -v wrk >/dev/null 2>&1; }

debian_package() {
    case "$1" in
        postgresql) echo postgresql ;;
        chromium) echo chromium ;;
        nginx) echo nginx-light ;;
        wrk) echo wrk ;;
        *) echo "install-tools: unknown tool '$1' (known: postgresql chromium nginx wrk)" >&2; exit 2 ;;
    esac
}

tools=("$@")
if [ ${#tools[@]} -eq 0 ]; then
    tools=(postgresql chromium nginx wrk)
fi

missing=()
packages=()
for tool in "${tools[@]}"; do
    package=$(debian_package "$tool")
    if "have_${tool}"; then
        echo "install-tools: ${tool} found; nothing to install"
    else
        missing+=("$tool")
        packages+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: missing ${missing[*]} and no apt-get: install them (PostgreSQL: set" >&2
    echo "  DN_CDS_TEST_POSTGRESQL_BIN to its bin directory; Chromium: set DN_CDS_TEST_CHROMIUM)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-tools: installing Debian packages: ${packages[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${packages[@]}"
if [[ " ${missing[*]} " == *" nginx "* ]] && command -v service >/dev/null 2>&1; then
    # Debian starts the packaged server where it can; the tests never use it.
    $SUDO service nginx stop >/dev/null 2>&1 || true
fi
for tool in "${missing[@]}"; do
    if ! "have_${tool}"; then
        echo "install-tools: ${tool} was installed but is still not found" >&2
        exit 1
    fi
done
echo "install-tools: done"
