#!/usr/bin/env bash
# The README's run command: set everything up and run the whole platform.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/qp up "$@"
