#!/usr/bin/env bash
# The add-on's tests on one Blender, with Blender as a Python module (bpy) in an environment of its own.
#   bash scripts/test-blender.sh 5.3              tests/addon on Blender 5.3
#   bash scripts/test-blender.sh 5.3 tests -x     other pytest arguments instead of tests/addon
# Blender 4.2 to 5.0 embed Python 3.11 and numpy 1.x (environment .venv-blender-3.11); 5.1 and later embed
# Python 3.13 and numpy 2 (.venv-blender-3.13, shared by 5.2 and 5.3: the run installs its bpy over the other).
# Python 3.13 is taken from PATH, else from pyenv. Each Blender's bpy pin is its `blender-X-Y` extra in pyproject.toml.
# torch 2.13.0 comes from the local CPU wheel on Python 3.11; on 3.13 pip takes PyPI's build (about 3 GB with
# its CUDA libraries, which run on the CPU too).
set -euo pipefail
cd "$(dirname "$0")/.."
LINE=${1:?usage: scripts/test-blender.sh 4.2|5.2|5.3 [pytest arguments]}
shift
case "$LINE" in
  4.2) PYTHON_VERSION=3.11 ;;
  5.2 | 5.3) PYTHON_VERSION=3.13 ;;
  *) echo "scripts/test-blender.sh: no bpy pin for Blender $LINE (pyproject.toml has 4.2, 5.2 and 5.3)" >&2; exit 2 ;;
esac

find_python() {
  local candidate
  for candidate in "python$1" "$(pyenv root 2>/dev/null || echo /nonexistent)/versions/$1"*/bin/"python$1"; do
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

PYTHON=$(find_python "$PYTHON_VERSION") || { echo "scripts/test-blender.sh: Python $PYTHON_VERSION is needed for Blender $LINE and was not found (PATH or pyenv)" >&2; exit 2; }
VENV=.venv-blender-$PYTHON_VERSION
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "torch==${TORCH_VERSION:-2.13.0}"
EXTRAS="blender-${LINE/./-}"
[ "$PYTHON_VERSION" = 3.11 ] || EXTRAS="test,$EXTRAS"  # 3.13 also runs the engine's own tests (numpy 2)
"${PIP[@]}" -e ".[$EXTRAS]"
echo "Blender $LINE: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("bpy", m.version("bpy"), "numpy", m.version("numpy"))') on Python $PYTHON_VERSION"
if [ "$#" -eq 0 ]; then
  set -- tests/addon
fi
"$VENV/bin/python" -m pytest "$@"
