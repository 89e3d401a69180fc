"""Runs in a fresh interpreter with `bpy` and prints what it found as one JSON line, for the add-on tests.

Installing an extension or registering classes changes the whole Blender session, so each check gets its own
process: nothing it does can leak into other tests.

    python blender_probe.py install ZIP      # BLENDER_USER_RESOURCES must point at an empty folder
    python blender_probe.py refused ZIP      # the same, for a zip this Blender must refuse
    python blender_probe.py register REPO_ROOT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import bpy

EXTENSION = "bl_ext.user_default.maskprop"


def install(zip_path: str) -> dict[str, Any]:
    """Install the zip as a user would, then look at the installed add-on from the inside."""
    import importlib

    import numpy  # noqa: F401  (Blender ships numpy, so it may come from the test environment)

    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    enabled = {module.module for module in bpy.context.preferences.addons}
    _hide_test_environment_wheels()
    import zmq

    vendored = importlib.import_module(f"{EXTENSION}.vendored")
    client_module = vendored.protocol_module("client")
    with client_module.EngineClient("tcp://127.0.0.1:9", timeout=0.3) as client:
        constructed = type(client).__module__
    connection = importlib.import_module(f"{EXTENSION}.core.connection")
    try:
        connection.check_connection("tcp://127.0.0.1:9", connection.KeyFiles(), timeout=0.3)
        hello_code = "none"
    except connection.ConnectionFailed as failure:
        hello_code = failure.code
    preferences = bpy.context.preferences.addons[EXTENSION].preferences
    preferences.engine_address, preferences.timeout = "tcp://127.0.0.1:9", 0.3
    try:
        bpy.ops.maskprop.test_connection()
        operator_error = ""
    except RuntimeError as error:  # an operator's ERROR report becomes an exception when called from Python
        operator_error = str(error)
    bpy.ops.preferences.addon_disable(module=EXTENSION)
    return {
        "result": sorted(result),
        "enabled": EXTENSION in enabled,
        "zmq_file": zmq.__file__,
        "zmq_version": zmq.__version__,
        "client_module": constructed,
        "hello_code": hello_code,
        "top_level_protocol": "protocol" in sys.modules,
        "operator_error": operator_error,
        "disabled": EXTENSION not in {module.module for module in bpy.context.preferences.addons},
        "operator_left": hasattr(bpy.types, "MASKPROP_OT_test_connection"),
    }


def refused(zip_path: str) -> dict[str, Any]:
    """Install a zip this Blender must not take; Blender prints what it tells the artist, and enables nothing."""
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    return {"result": sorted(result), "enabled": EXTENSION in {m.module for m in bpy.context.preferences.addons}}


def _hide_test_environment_wheels() -> None:
    """Drop the test environment's site-packages from `sys.path`, as Blender's own Python has no pyzmq or msgpack.

    Otherwise `import zmq` would find the test environment's copy before the one the extension installed.
    """
    sys.path[:] = [entry for entry in sys.path if ".local" in Path(entry).parts or not (Path(entry) / "zmq").is_dir()]


def register(repo_root: str) -> dict[str, Any]:
    """Register and unregister the repository's add-on twice and compare `bpy.types` before and after."""
    sys.path.insert(0, repo_root)
    import addon
    from addon import operators, panel, preferences

    before = set(dir(bpy.types))
    classes = [*preferences.classes, *operators.classes, *panel.classes]
    registered = []
    for _ in range(2):
        addon.register()
        registered.append(all(cls.is_registered for cls in classes))
        addon.unregister()
    return {
        "registered": registered,
        "left_registered": [cls.__name__ for cls in classes if cls.is_registered],
        "added_types": sorted(set(dir(bpy.types)) - before),
        "operator_left": hasattr(bpy.types, "MASKPROP_OT_test_connection"),
        "scene_properties_left": [name for name in ("maskprop", "maskprop_mask") if hasattr(bpy.types.Scene, name)],
    }


if __name__ == "__main__":
    command, argument = sys.argv[1:3]
    found = {"install": install, "refused": refused, "register": register}[command](argument)
    print("PROBE " + json.dumps(found))
