"""Inside Blender, an engine child gets the environment we chose, not Blender's: no `OCIO` from Blender 5.1 on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.blender

CHILD = "import os, json; print(json.dumps(os.environ.get('OCIO')))"
SCRIPT = f"""
import json, subprocess, sys
import bpy
from protocol.environment import engine_environment
def seen(env):
    return json.loads(subprocess.run([sys.executable, "-c", {CHILD!r}], env=env, capture_output=True, text=True,
                                     check=True).stdout.splitlines()[-1])
report = {{"version": bpy.app.version[:2], "inherited": seen(None), "ours": seen(engine_environment())}}
print("REPORT " + json.dumps(report))
"""


def test_a_child_started_with_our_environment_does_not_see_blenders_colour_configuration():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    report = json.loads(lines[-1].removeprefix("REPORT "))

    assert report["ours"] is None
    if tuple(report["version"]) >= (5, 1):  # what made this necessary: Blender hands it to every child
        assert report["inherited"].endswith("config.ocio")
