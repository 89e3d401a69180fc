"""The source manifest says what Blender's extension platform requires, and agrees with the engine's version."""

from __future__ import annotations

import tomllib

import build_addon
import engine

MANIFEST = tomllib.loads((build_addon.ADDON / "blender_manifest.toml").read_text(encoding="utf-8"))


def test_the_tagline_fits_and_has_no_trailing_period():
    assert len(MANIFEST["tagline"]) < 64
    assert not MANIFEST["tagline"].endswith(".")


def test_the_version_is_the_engines():
    assert MANIFEST["version"] == engine.__version__


def test_it_is_an_add_on_for_blender_4_2_and_later():
    assert MANIFEST["schema_version"] == "1.0.0"
    assert MANIFEST["id"].isidentifier()
    assert MANIFEST["type"] == "add-on"
    assert MANIFEST["blender_version_min"] == "4.2.0"
    assert all(entry.startswith("SPDX:") for entry in MANIFEST["license"])


def test_network_and_files_permissions_give_a_reason():
    assert set(MANIFEST["permissions"]) == {"network", "files"}
    assert all(reason and not reason.endswith(".") for reason in MANIFEST["permissions"].values())


def test_platforms_and_wheels_are_left_to_the_build():
    assert "platforms" not in MANIFEST
    assert "wheels" not in MANIFEST
