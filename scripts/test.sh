#!/usr/bin/env bash
# Set up the environment with the test extra, then lint and run every test.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/protocol -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
