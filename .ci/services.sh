#!/usr/bin/env bash
# Services hermit's tests need beyond the Python environment (uv sync installs moto, the
# loopback S3 server, with the dev dependencies): the PostgreSQL server programs and Redis. The
# tests start their own throwaway servers on 127.0.0.1 (tests/conftest.py,
# tests/celery_cluster.py), so none is started here.
# Called by .ci/run before pytest; safe to run again.
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_postgres; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Debian's package also creates and tries to start a default cluster; the tests ignore it.
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
have_postgres && echo "services: PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | tail -1) server programs present"

# Headless Chromium, for the test that opens the HTML report without network and screenshots it.
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v chromium >/dev/null && echo "services: $(chromium --version 2>/dev/null)"

# Redis, the Celery broker of the test that runs a range on the celery executor. Debian's
# package would start a system-wide server; a policy-rc.d that says 101 forbids that.
if ! command -v redis-server >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  POLICY=/usr/sbin/policy-rc.d
  OWN_POLICY=""
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY"
    OWN_POLICY=1
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  if [ -n "$OWN_POLICY" ]; then $SUDO rm -f "$POLICY"; fi
fi
command -v redis-server >/dev/null && echo "services: $(redis-server --version | cut -d' ' -f1-3)"
