"""Every built zip, for every platform: it passes Blender's own strict validator, and its wheels load in the Python
of each Blender it declares.

The zips are built for real (pyzmq and msgpack wheels downloaded into build/wheels/ the first time). The validator
is `blender_ext.py validate`, which ships inside every Blender and which the extensions platform runs on upload;
it is taken from the `bpy` module installed here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

import build_addon

WHEEL_CACHE = build_addon.ROOT / "build" / "wheels"
# What a wheel's platform tag must say to load on each Blender platform (macOS also takes universal2 builds).
PLATFORM_TAGS = {
    "linux-x64": lambda tag: tag.startswith("manylinux") and tag.endswith("_x86_64"),
    "windows-x64": lambda tag: tag == "win_amd64",
    "macos-arm64": lambda tag: tag.startswith("macosx_") and tag.endswith(("_arm64", "_universal2")),
    "macos-x64": lambda tag: tag.startswith("macosx_") and tag.endswith(("_x86_64", "_universal2")),
}


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    return {
        platform: build_addon.build(platform, cache=WHEEL_CACHE, dist=dist, offline=False) for platform in PLATFORMS
    }


PLATFORMS = sorted(build_addon.PLATFORMS)


def _manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return tomllib.loads(archive.read("blender_manifest.toml").decode("utf-8"))


def _loads_on(wheel: str, python: str, platform: str) -> bool:
    """Whether CPython ``python`` ("3.13") on ``platform`` can import the wheel named ``wheel``."""
    version = int(python.split(".")[1])
    for tag in parse_wheel_filename(wheel)[3]:
        exact = tag.interpreter == f"cp3{version}" and tag.abi == f"cp3{version}"
        stable = tag.abi == "abi3" and tag.interpreter.startswith("cp3") and int(tag.interpreter[3:]) <= version
        if (exact or stable) and PLATFORM_TAGS[platform](tag.platform):
            return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_zip_has_a_loadable_wheel_of_each_pin_for_each_blender_it_declares(zips, platform):
    manifest = _manifest(zips[platform])
    wheels = [entry.removeprefix("./wheels/") for entry in manifest["wheels"]]
    low = tuple(int(part) for part in manifest["blender_version_min"].split(".")[:2])
    high = tuple(int(part) for part in manifest["blender_version_max"].split(".")[:2])
    declared = [line for line in build_addon.BLENDER_PYTHONS if low <= line < high]

    assert manifest["platforms"] == [platform]
    assert declared, manifest
    for line in declared:
        python = build_addon.BLENDER_PYTHONS[line]
        for name, _ in build_addon.PINS:
            assert any(w.startswith(f"{name}-") and _loads_on(w, python, platform) for w in wheels), (line, name)


def _validator() -> Path | None:
    """`blender_ext.py` inside the installed `bpy` module, found without importing Blender."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(
        Path(next(iter(spec.submodule_search_locations))).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")
    )
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_zip_passes_blenders_strict_validator(zips, platform):
    validator = _validator()
    if validator is None:
        pytest.skip("needs Blender as a Python module (bpy) for its blender_ext.py")
    done = subprocess.run(
        [sys.executable, str(validator), "validate", str(zips[platform])], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
