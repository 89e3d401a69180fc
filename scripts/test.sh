#!/usr/bin/env bash
# Set up the environment with the test extra, then lint and run every test, then the add-on's tests again
# on Blender 4.5 LTS (scripts/test-blender-lts.sh).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/protocol -x` (which skips the LTS run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
[ "$#" -gt 0 ] || bash scripts/test-blender-lts.sh
