"""The built extension installs into a real (headless) Blender, enables, and brings its own pyzmq and protocol."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import build_addon

pytestmark = pytest.mark.blender

PROBE = Path(__file__).with_name("blender_probe.py")
WHEEL_CACHE = build_addon.ROOT / "build" / "wheels"  # shared with `python build_addon.py`, so reruns skip pip


def probe(args: list[str], environment: dict[str, str]) -> dict[str, Any]:
    """Run `blender_probe.py` in a fresh interpreter and return the JSON it printed."""
    return probe_with_output(args, environment)[0]


def probe_with_output(args: list[str], environment: dict[str, str]) -> tuple[dict[str, Any], str]:
    """`probe`, and everything the interpreter printed (where Blender writes the reports an artist sees)."""
    done = subprocess.run(
        [sys.executable, str(PROBE), *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return json.loads(lines[-1].removeprefix("PROBE ")), done.stdout + done.stderr


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


def _with_manifest(source: Path, target: Path, edit: Callable[[str], str]) -> Path:
    """A copy of the zip `source` whose manifest `edit` rewrote."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for name in original.namelist():
            data = original.read(name)
            copy.writestr(name, edit(data.decode()).encode() if name == "blender_manifest.toml" else data)
    return target


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64", reason="installs on linux-x64")
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda text: text.replace('"linux-x64"', '"windows-x64"'),
            "This platform (linux-x64) isn't one of (windows-x64)",
        ),
        (
            lambda text: re.sub(r'blender_version_max = "[^"]*"', 'blender_version_max = "4.2.0"', text),
            "must be less than the maximum version (4.2.0)",
        ),
    ],
    ids=["another platform", "a newer Blender than declared"],
)
def test_a_zip_this_blender_cannot_run_is_refused_saying_what_it_supports(linux_zip, tmp_path, edit, words):
    zip_path = _with_manifest(linux_zip, tmp_path / linux_zip.name, edit)
    environment = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    found, output = probe_with_output(["refused", str(zip_path)], environment)
    assert "maskprop: This " in output and words in output  # Blender's own report, shown to the artist
    assert not found["enabled"]


def test_register_and_unregister_leave_nothing_behind():
    found = probe(["register", str(build_addon.ROOT)], dict(os.environ))
    assert found == {
        "registered": [True, True],
        "left_registered": [],
        "added_types": [],
        "operator_left": False,
        "scene_properties_left": [],
    }
