#!/usr/bin/env bash
# The README's test command: set everything up, start the real services, run the suite.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test || exit 1
.venv/bin/qp services start || exit 1
.venv/bin/qp db migrate || exit 1
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
.venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: a run with no tests is a broken run" >&2
  exit 1
fi
exit "$rc"
