#!/usr/bin/env bash
# Make nginx available for the several-instance test (tests/integration/test_several_instances.py), which starts its own
# nginx on 127.0.0.1 with deploy/nginx/dn-cds-proxy.conf. Idempotent: does nothing when nginx is installed;
# otherwise installs Debian's nginx-light package. The package's own server, if it starts one, is not used.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "install-nginx: nginx found; nothing to install"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-nginx: no nginx and no apt-get; install nginx (any 1.18+)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-nginx: installing Debian's nginx-light package"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends nginx-light
# Debian starts the packaged server where it can; the tests never use it, so stop it when it runs.
if command -v service >/dev/null 2>&1; then
    $SUDO service nginx stop >/dev/null 2>&1 || true
fi
echo "install-nginx: done"
