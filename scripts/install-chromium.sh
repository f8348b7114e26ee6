#!/usr/bin/env bash
# Make Debian's Chromium (/usr/bin/chromium) available for the browser tests (pytest -m browser), which drive it
# with Playwright for Python. Idempotent: does nothing when /usr/bin/chromium (or $DN_CDS_TEST_CHROMIUM) is
# already there; otherwise installs Debian's chromium package. Playwright's own browser download is not used.
set -euo pipefail

have_chromium() {
    if [ -n "${DN_CDS_TEST_CHROMIUM:-}" ] && [ -x "${DN_CDS_TEST_CHROMIUM}" ]; then
        return 0
    fi
    [ -x /usr/bin/chromium ]
}

if have_chromium; then
    echo "install-chromium: Chromium found; nothing to install"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: no /usr/bin/chromium and no apt-get; install Chromium and set" >&2
    echo "  DN_CDS_TEST_CHROMIUM to its executable" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-chromium: installing Debian's chromium package"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium

if ! have_chromium; then
    echo "install-chromium: chromium installed but /usr/bin/chromium was not found" >&2
    exit 1
fi
echo "install-chromium: done"
