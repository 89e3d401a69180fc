"""Propagate Mask: draw a mask on one frame of a clip and let the engine propagate it.

The add-on is a thin Blender front end. Everything that talks to the engine or starts it lives in modules that
never import `bpy` (`connection`, `session`, `local_engine`, `vendored`, `raster`, `contour_splines`), so it can
be tested without Blender; the modules that register classes and translate between Blender and those functions
are imported when the add-on is registered, not when the package is.
"""

from types import ModuleType

from .core import local_engine


def _blender_modules() -> tuple[ModuleType, ...]:
    """In registration order: preferences and the scene settings first, because operators read them and panels
    draw them."""
    from . import operators, panel, panel_settings, preferences, targets

    return preferences, panel_settings, targets, operators, panel


def register() -> None:
    for module in _blender_modules():
        module.register()


def unregister() -> None:
    """Unregister everything, and stop the engine this Blender started: a disabled add-on leaves nothing running."""
    for module in reversed(_blender_modules()):
        module.unregister()
    local_engine.stop()
