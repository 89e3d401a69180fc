"""Blender work in a fresh interpreter, for the add-on tests: whatever it does to the Blender session (datablocks,
registered classes, rendering) cannot leak into other tests.

The child starts from the repository root, in the environment the add-on gives an engine it launches (no inherited
`OCIO`), and reports either through files or through one `CHILD {json}` line on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from protocol.environment import engine_environment

REPO = Path(__file__).resolve().parents[2]


def run_child(code: str, *args: str, timeout: float = 300) -> str:
    """Run `code` with `args` as `sys.argv[1:]`; its stdout, or the test fails showing the end of its output."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=engine_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def child_report(code: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """The JSON on the last `CHILD ` line that `code` printed."""
    output = run_child(code, *args, timeout=timeout)
    lines = [line for line in output.splitlines() if line.startswith("CHILD ")]
    assert lines, output[-2000:]
    return json.loads(lines[-1].removeprefix("CHILD "))
