"""Propagate Mask: draw a mask on the first frame of a clip and let the engine propagate it.

The add-on is a thin Blender front end. Everything that talks to the engine lives in modules that never
import `bpy` (`connection`, `vendored`), so it can be tested without Blender; the modules here only register
classes and translate between Blender and those functions.
"""

from . import operators, panel, preferences, propagate

# Registration order: preferences and the scene settings first, because operators read them and panels draw them.
_modules = (preferences, propagate, operators, panel)


def register() -> None:
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
