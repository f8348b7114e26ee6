#!/usr/bin/env bash
# Kept for the paths named in messages and docs: installs chromium only when missing (see scripts/install-tools.sh).
exec bash "$(dirname "$0")/install-tools.sh" chromium
