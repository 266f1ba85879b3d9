#!/usr/bin/env bash
# Services hermit's tests need beyond the Python environment (uv sync installs moto, the
# loopback S3 server, with the dev dependencies): the PostgreSQL server programs, nfdump. The tests
# start their own throwaway server on 127.0.0.1 (tests/conftest.py), so none is started here.
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

# Debian's nfdump package (nfdump, nfcapd): hermit reads nfcapd files through nfdump, and the
# collector test feeds real export packets to a real nfcapd on 127.0.0.1.
if ! command -v nfcapd >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nfdump >/dev/null
fi
command -v nfdump >/dev/null && echo "services: $(nfdump -V 2>&1 | head -1)"

# Headless Chromium, for the test that opens the HTML report without network and screenshots it.
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v chromium >/dev/null && echo "services: $(chromium --version 2>/dev/null)"
