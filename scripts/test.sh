#!/usr/bin/env bash
# Set up the environment with the test extra, lint, and run every test; then the add-on's tests on each Blender
# that CI covers (scripts/test-blender.sh): 5.3, the newest, with the engine's tests again on Python 3.13 and
# numpy 2; 5.2 LTS; and 4.2 LTS, the oldest the add-on declares.
# Extra arguments go to pytest in .venv only, e.g. `bash scripts/test.sh tests/protocol -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest --durations=15 "$@"
if [ "$#" -eq 0 ]; then
  bash scripts/test-blender.sh 5.3 tests
  bash scripts/test-blender.sh 5.2
  bash scripts/test-blender.sh 4.2
fi
