"""The built extension installs into a real (headless) Blender, enables, and brings its own pyzmq and protocol."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import build_addon

pytestmark = pytest.mark.blender

PROBE = Path(__file__).with_name("blender_probe.py")
WHEEL_CACHE = build_addon.ROOT / "build" / "wheels"  # shared with `python build_addon.py`, so reruns skip pip


def probe(args: list[str], environment: dict[str, str]) -> dict[str, Any]:
    """Run `blender_probe.py` in a fresh interpreter and return the JSON it printed."""
    done = subprocess.run(
        [sys.executable, str(PROBE), *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return json.loads(lines[-1].removeprefix("PROBE "))


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory) -> Path:
    return build_addon.build("linux-x64", cache=WHEEL_CACHE, dist=tmp_path_factory.mktemp("dist"), offline=False)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64", reason="installs the linux-x64 zip")
def test_the_zip_installs_enables_and_imports_its_own_wheels_and_protocol(linux_zip, tmp_path):
    user = tmp_path / "blender-user"
    found = probe(["install", str(linux_zip)], {**os.environ, "BLENDER_USER_RESOURCES": str(user)})
    assert found["result"] == ["FINISHED"]
    assert found["enabled"]
    assert Path(found["zmq_file"]).is_relative_to(user / "extensions" / ".local")  # the bundled wheel, not ours
    assert found["zmq_version"] == dict(build_addon.PINS)["pyzmq"]
    assert found["client_module"] == "bl_ext.user_default.maskprop.protocol.client"
    assert not found["top_level_protocol"]
    assert found["hello_code"] == "timeout"  # nothing listens: a clean timeout, no hang, no crash
    assert "No answer from tcp://127.0.0.1:9" in found["operator_error"]
    assert found["disabled"]
    assert not found["operator_left"]


def test_register_and_unregister_leave_nothing_behind():
    found = probe(["register", str(build_addon.ROOT)], dict(os.environ))
    assert found == {
        "registered": [True, True],
        "left_registered": [],
        "added_types": [],
        "operator_left": False,
        "scene_properties_left": [],
    }
