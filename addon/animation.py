"""Reaching a datablock's F-curves across Blender versions (the 5.0 layered actions moved them)."""

from __future__ import annotations

import bpy


def fcurves_of(datablock: bpy.types.ID) -> bpy.types.bpy_prop_collection | None:
    """The F-curves animating `datablock`: the action's own list up to 4.5, its slot's channel bag from 5.0."""
    animation = datablock.animation_data
    if animation is None or animation.action is None:
        return None
    if hasattr(animation.action, "fcurves"):
        return animation.action.fcurves
    from bpy_extras import anim_utils

    channelbag = anim_utils.action_get_channelbag_for_slot(animation.action, animation.action_slot)
    return None if channelbag is None else channelbag.fcurves
