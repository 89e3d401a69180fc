"""Tests marked `blender` run Blender (bpy), most in a child process; where bpy is not installed they are skipped.

`scripts/test-blender.sh` runs them on each Blender that CI covers, each in an environment with its own bpy.
"""

from __future__ import annotations

import importlib.util

import pytest

HAS_BLENDER = importlib.util.find_spec("bpy") is not None
# Modules whose imports load add-on code that imports bpy: without Blender they cannot even be collected.
NEED_BLENDER_TO_IMPORT = ["test_names.py", "test_propagate_e2e.py", "test_results_import.py"]
collect_ignore = [] if HAS_BLENDER else NEED_BLENDER_TO_IMPORT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if HAS_BLENDER:
        return
    skip = pytest.mark.skip(reason="needs Blender as a Python module (bpy): scripts/test-blender.sh runs it")
    for item in items:
        if item.get_closest_marker("blender"):
            item.add_marker(skip)
