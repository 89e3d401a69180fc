"""The scene's colour management, as the engine needs it to show the network what the artist sees.

The engine applies the view to scene-linear frames only (EXR plates, float frames streamed from here); byte
plates go as stored (docs/colour.md). The config is the one this Blender uses: from 5.0 Blender names it
(`bpy.data.colorspace.ocio_config_path`, a studio's `$OCIO` included); before, `$OCIO` or Blender's own.
RGB Curves and white balance are not sent: the engine applies view, look, display, exposure and gamma.
"""

from __future__ import annotations

import os
from typing import Any

import bpy

GAMMA_MIN = 0.01  # Blender allows 0, which has no inverse; the protocol's lower bound


def scene_view(scene: bpy.types.Scene) -> dict[str, Any]:
    """The `View` fields of `scene`'s Color Management panel."""
    settings = scene.view_settings
    return {
        "view": settings.view_transform,
        "look": settings.look or "None",
        "display": scene.display_settings.display_device,
        "exposure": float(settings.exposure),
        "gamma": max(float(settings.gamma), GAMMA_MIN),
    }


def blender_config() -> str:
    """The OpenColorIO config this Blender runs with, for the engine the add-on starts; "" if none is found."""
    named = getattr(getattr(bpy.data, "colorspace", None), "ocio_config_path", "")
    fallback = os.path.join(bpy.utils.system_resource("DATAFILES"), "colormanagement", "config.ocio")
    for path in (named, os.environ.get("OCIO", ""), fallback):
        if path and os.path.isfile(path):
            return path
    return ""


def working_space_is_rec709() -> bool:
    """Whether float pixels Blender hands out are linear Rec.709, what the engine takes streamed frames to be
    (from 5.0 a blend file may work in Rec.2020 or ACEScg)."""
    interop = getattr(getattr(bpy.data, "colorspace", None), "working_space_interop_id", "lin_rec709_scene")
    return interop in ("lin_rec709_scene", "")
