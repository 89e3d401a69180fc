"""Propagate Mask: draw a mask on one frame of a clip and let the engine propagate it.

The add-on is a thin Blender front end. Everything that talks to the engine or starts it lives in modules that
never import `bpy` (`connection`, `session`, `local_engine`, `vendored`), so it can be tested without Blender;
the modules here only register classes and translate between Blender and those functions.
"""

from . import local_engine, operators, panel, preferences, propagate, targets

# Registration order: preferences and the scene settings first, because operators read them and panels draw them.
_modules = (preferences, propagate, targets, operators, panel)


def register() -> None:
    for module in _modules:
        module.register()


def unregister() -> None:
    """Unregister everything, and stop the engine this Blender started: a disabled add-on leaves nothing running."""
    for module in reversed(_modules):
        module.unregister()
    local_engine.stop()
