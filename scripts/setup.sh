#!/usr/bin/env bash
# Make (or refresh) the project's virtual environment in .venv.
#   bash scripts/setup.sh          the engine and its command line
#   bash scripts/setup.sh --test   also the test tools and Blender as a Python module (bpy, ~370 MB)
# torch is installed first at the pinned version so that pip does not pull a newer CUDA build with
# several GB of GPU libraries; a machine with a GPU can install its CUDA build of torch 2.x instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required (bpy 5.0 is built for it), found {sys.version}"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${TORCH_VERSION:-2.13.0}"
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi
