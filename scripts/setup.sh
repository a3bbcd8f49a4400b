#!/usr/bin/env bash
# Everything both README commands need, idempotent: the project venv at .venv/
# with the package and its dev tools, the system packages for the local
# PostgreSQL+TimescaleDB and Redis, and (with --test) headless Chromium for
# the browser tests. Seconds on a machine that already has it all.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  for cand in python3.13 python3.12 python3.11; do
    command -v "$cand" >/dev/null && PY="$cand" && break
  done
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$PY" -m venv .venv
  }
fi
# Exact versions from requirements.lock (runtime + dev tools), then the package
# itself without resolving again: every machine gets the same environment.
# Refresh the lock with `make lock` whenever pyproject.toml's dependencies change.
stamp=.venv/.qp-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.lock
  .venv/bin/python -m pip install -q -e . --no-deps
  touch "$stamp"
fi

# System packages for the local services (and the TimescaleDB build on Debian 12).
bash quant_platform/services/provision.sh >/dev/null

if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "[setup] installing Debian's chromium for the browser tests" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
