#!/usr/bin/env bash
# The add-on's tests again with Blender 4.5 LTS as a Python module, in its own environment (.venv-lts):
# studios keep the LTS line in production, and its compositor and animation APIs differ from 5.0's.
# When bpy 4.5 cannot be installed (no package index), this says so and skips; failing tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
PIP=(.venv-lts/bin/python -m pip install --quiet --disable-pip-version-check)
[ -x .venv-lts/bin/python ] || "$PYTHON" -m venv .venv-lts
"${PIP[@]}" "torch==${TORCH_VERSION:-2.13.0}"
if ! "${PIP[@]}" -e ".[test-lts]"; then
  echo "SKIPPED: the Blender 4.5 LTS tests (bpy 4.5 could not be installed into .venv-lts)" >&2
  exit 0
fi
.venv-lts/bin/python -m pytest tests/addon "$@"
