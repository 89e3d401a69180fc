"""The build script's pieces that need no network: the generated manifest, the vendoring, the error path."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

import pytest

import build_addon

SOURCE = (build_addon.ADDON / "blender_manifest.toml").read_text(encoding="utf-8")


def test_the_platform_manifest_adds_top_level_platforms_and_wheels():
    text = build_addon.platform_manifest(SOURCE, "windows-x64", ["a-1-cp311-cp311-win_amd64.whl"])
    manifest = tomllib.loads(text)
    assert manifest["platforms"] == ["windows-x64"]
    assert manifest["wheels"] == ["./wheels/a-1-cp311-cp311-win_amd64.whl"]
    assert manifest["permissions"] == tomllib.loads(SOURCE)["permissions"]  # tables left intact


@pytest.mark.parametrize("key", ["wheels = []", "platforms = []", 'blender_version_max = "9.0.0"'])
def test_a_source_manifest_that_sets_what_the_build_writes_is_refused(key):
    with pytest.raises(build_addon.BuildError, match="must not set"):
        build_addon.platform_manifest(f'{key}\n[permissions]\nfiles = "x"\n', "linux-x64", [])


def test_each_zip_supports_the_blenders_it_has_wheels_for():
    assert build_addon.pythons_for("linux-x64", "4.2.0") == ["3.11", "3.13"]
    assert build_addon.supported_lines("linux-x64", "4.2.0")[-1] == (5, 3)
    assert build_addon.pythons_for("macos-x64", "4.2.0") == ["3.11"]  # no Blender 5 for Intel Macs
    assert build_addon.supported_lines("macos-x64", "4.2.0") == [(4, 2), (4, 3), (4, 4), (4, 5)]
    manifest = tomllib.loads(build_addon.platform_manifest(SOURCE, "macos-x64", []))
    assert manifest["blender_version_max"] == "5.0.0"


def test_vendoring_makes_every_protocol_import_relative():
    for path in sorted(build_addon.PROTOCOL.glob("*.py")):
        text = build_addon.vendor_source(path.read_text(encoding="utf-8"), path)
        assert "from protocol" not in text
        assert "import protocol" not in text


def test_vendoring_rewrites_indented_and_package_imports():
    source = "from protocol import messages as m\nif TYPE_CHECKING:\n    from protocol.client import EngineClient\n"
    expected = "from . import messages as m\nif TYPE_CHECKING:\n    from .client import EngineClient\n"
    assert build_addon.vendor_source(source, Path("x.py")) == expected


def test_an_import_the_build_cannot_rewrite_is_refused():
    with pytest.raises(build_addon.BuildError, match="cannot make this protocol import relative"):
        build_addon.vendor_source("import protocol.wire\n", Path("x.py"))


def test_offline_without_cached_wheels_fails_with_one_line_and_status_2(tmp_path, capsys):
    status = build_addon.main(
        ["--platform", "linux-x64", "--offline", "--cache", str(tmp_path), "--dist", str(tmp_path)]
    )
    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1
    assert "no cached wheels for linux-x64, Python 3.11" in error


def test_offline_with_cached_wheels_builds_a_zip_with_both_pythons(tmp_path):
    for python in ("3.11", "3.13"):  # stand-in wheels: the build only copies them
        folder = tmp_path / "cache" / "macos-arm64" / f"py{python}"
        folder.mkdir(parents=True)
        tag = python.replace(".", "")
        for name, version in build_addon.PINS:
            (folder / f"{name}-{version}-cp{tag}-cp{tag}-macosx_11_0_arm64.whl").write_bytes(b"")
    status = build_addon.main(
        ["--platform", "macos-arm64", "--offline", "--cache", str(tmp_path / "cache"), "--dist", str(tmp_path)]
    )
    assert status == 0
    with zipfile.ZipFile(tmp_path / "maskprop-0.1.0-macos_arm64.zip") as archive:
        names = set(archive.namelist())
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    assert {"__init__.py", "core/connection.py", "vendored.py", "protocol/client.py"} <= names
    assert len(manifest["wheels"]) == 4
    assert {wheel.removeprefix("./") for wheel in manifest["wheels"]} <= names
    assert manifest["platforms"] == ["macos-arm64"]
    assert manifest["blender_version_max"] == "5.4.0"
    assert not any("__pycache__" in name for name in names)
