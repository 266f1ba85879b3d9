#!/usr/bin/env bash
# Services hermit's tests need beyond the Python environment (uv sync installs moto, the
# loopback S3 server, with the dev dependencies), from Debian: the PostgreSQL server programs,
# nfdump (nfdump, nfcapd), Redis and headless Chromium. The tests start their own throwaway
# servers on 127.0.0.1 (tests/conftest.py, tests/celery_cluster.py, the nfcapd collector test),
# so none is started here. Called by .ci/run before pytest; safe to run again.
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
command -v nfcapd >/dev/null 2>&1 || missing+=(nfdump)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Debian's postgresql and redis-server packages would start system-wide servers; a
  # policy-rc.d that says 101 forbids that (the tests start their own on loopback).
  POLICY=/usr/sbin/policy-rc.d
  OWN_POLICY=""
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY"
    OWN_POLICY=1
  fi
  echo "services: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$OWN_POLICY" ]; then $SUDO rm -f "$POLICY"; fi
fi

have_postgres && echo "services: PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | tail -1) server programs present"
command -v nfdump >/dev/null && echo "services: $(nfdump -V 2>&1 | head -1)"
command -v redis-server >/dev/null && echo "services: $(redis-server --version | cut -d' ' -f1-3)"
command -v chromium >/dev/null && echo "services: $(chromium --version 2>/dev/null)"
