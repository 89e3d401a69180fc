"""Path confinement in-process: resolved paths inside the allowed roots pass, everything else is forbidden."""

from __future__ import annotations

import os

import pytest

from engine.server.roots import AllowedRoots
from protocol.errors import ErrorCode, ProtocolError


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "root" / "shot").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "escape")
    os.symlink(tmp_path / "root" / "shot", tmp_path / "root" / "alias")
    return tmp_path


def test_paths_inside_a_root_resolve_inside_it(tree):
    roots = AllowedRoots([tree / "root"])
    assert roots.confine(tree / "root" / "shot") == (tree / "root" / "shot").resolve()
    assert roots.confine(tree / "root" / "alias") == (tree / "root" / "shot").resolve()
    assert roots.confine(f"{tree}/root/shot/../shot/plate.%04d.exr").name == "plate.%04d.exr"


@pytest.mark.parametrize(
    "path",
    ["elsewhere", "root/../elsewhere", "root/escape", "root/escape/x.png", "rootless", "/"],
)
def test_paths_that_resolve_outside_every_root_are_forbidden(tree, path):
    roots = AllowedRoots([tree / "root"])
    with pytest.raises(ProtocolError) as refused:
        roots.confine(path if path == "/" else tree / path)
    assert refused.value.code == ErrorCode.FORBIDDEN


def test_a_sibling_folder_sharing_the_roots_prefix_is_outside(tree):
    (tree / "root-evil").mkdir()
    with pytest.raises(ProtocolError):
        AllowedRoots([tree / "root"]).confine(tree / "root-evil")


@pytest.mark.parametrize("path", ["shot", "./shot", "", "with\0nul"])
def test_relative_and_malformed_paths_are_forbidden(tree, path):
    with pytest.raises(ProtocolError) as refused:
        AllowedRoots([tree / "root"]).confine(path)
    assert refused.value.code == ErrorCode.FORBIDDEN


def test_without_roots_nothing_is_readable(tree):
    roots = AllowedRoots([])
    assert not roots
    with pytest.raises(ProtocolError, match="--allow-root"):
        roots.confine(tree / "root" / "shot")


def test_every_file_of_a_source_is_confined(tree):
    roots = AllowedRoots([tree / "root"])
    roots.confine_all([tree / "root" / "shot" / "a.png"])
    with pytest.raises(ProtocolError):
        roots.confine_all([tree / "root" / "shot" / "a.png", tree / "root" / "escape" / "b.png"])
