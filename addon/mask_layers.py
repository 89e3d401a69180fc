"""Write an object's traced contours into a Mask layer as splines keyed frame by frame.

The layer (found again by name, so writing again replaces it) gets one cyclic spline per part slot from
``contour_splines.plan_tracks`` and fills holes (``use_fill_holes``): hole splines are wound opposite to their
outline, which cuts them out under the even-odd rule of Blender 5.1 and earlier and the winding rule of 5.2 on.
Points use FREE handles keyed onto the point itself, so every segment is straight and the filled shape is exactly
the resampled polygon. VECTOR handles would draw the same shape, but Blender recomputes them from the points of
the previous evaluation: after ``frame_set`` the handles lag one frame behind the keyed ``co`` (seen in 5.0.1,
both on the original and the evaluated mask), which bent the outline of a moving shape. Keys are LINEAR
F-curves on ``co``, ``handle_left`` and ``handle_right`` of ``layers["<name>"].splines[i].points[j]``, editable
in the Graph Editor and grouped per object as "obj<id>".

A layer of results is named after the object's drawn layer plus ``RESULT_SUFFIX`` ("hero" -> "hero (propagated)"),
in the result Mask as in the artist's own: written into the artist's Mask it sits beside the drawn layer and never
replaces it, and the suffix is how the add-on tells results from objects to propagate. A name too long for Blender
is shortened (`names.fitted`), and the Mask records which drawn layer each result layer belongs to
(``LAYER_OF``: {result layer: drawn layer}), which a shortened name no longer says in full.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import bpy
import numpy as np

from . import names
from .animation import fcurves_of
from .core import contour_splines

_LINEAR = 1  # Keyframe.interpolation enum value
_KEYED = ("co", "handle_left", "handle_right")
RESULT_SUFFIX = " (propagated)"
LAYER_OF = "maskprop_layer_of"  # the Mask's custom property: {result layer name: drawn layer name}


def result_layer_name(object_name: str) -> str:
    """The name of the layer that holds the results of the object drawn in layer ``object_name``."""
    return names.fitted(object_name, RESULT_SUFFIX, names.LAYER_NAME_BYTES)


def record_layer_of(mask: bpy.types.Mask, result_name: str, object_name: str) -> None:
    """Note on ``mask`` that result layer ``result_name`` holds the object drawn in layer ``object_name``."""
    recorded = dict(mask.get(LAYER_OF, {}))
    recorded[result_name] = object_name
    mask[LAYER_OF] = recorded


def is_result_layer(layer_name: str) -> bool:
    """Whether a layer holds results (and so is no object to propagate)."""
    return layer_name.endswith(RESULT_SUFFIX)


def write_object_layer(
    mask: bpy.types.Mask,
    object_id: int,
    name: str,
    frames: Mapping[int, Sequence[tuple[np.ndarray, bool]]],
    width: int,
    height: int,
    count: int = 32,
) -> bpy.types.MaskLayer:
    """Make layer ``name`` of ``mask`` follow ``frames`` ({scene frame: [(points_px, is_hole), ...]}).

    ``width`` and ``height`` are the plate's, which the contours are measured in. Earlier splines and keys of
    this layer are removed first; other layers and their keys are left alone.
    """
    tracks = contour_splines.plan_tracks(frames, count, width, height)
    layer = _empty_layer(mask, name)
    layer.use_fill_holes = True
    for track in tracks:
        _add_spline(layer, contour_splines.to_mask_space(track.shapes[min(track.shapes)], width, height))
    path = f'layers["{bpy.utils.escape_identifier(name)}"]'
    for index, track in enumerate(tracks):
        _key_spline(mask, f"{path}.splines[{index}]", track, width, height, f"obj{object_id}")
    return layer


def _empty_layer(mask: bpy.types.Mask, name: str) -> bpy.types.MaskLayer:
    """Layer ``name`` without splines or keys: reused in place, so its position in the stack is kept."""
    layer = mask.layers.get(name) or mask.layers.new(name=name)
    for spline in list(layer.splines):
        layer.splines.remove(spline)
    fcurves = fcurves_of(mask)
    prefix = f'layers["{bpy.utils.escape_identifier(name)}"].'
    if fcurves is not None:
        for fcurve in [f for f in fcurves if f.data_path.startswith(prefix)]:
            fcurves.remove(fcurve)
    return layer


def _add_spline(layer: bpy.types.MaskLayer, points: np.ndarray) -> None:
    """A cyclic, filled spline through ``points`` (mask space) with straight segments: handles on the points."""
    spline = layer.splines.new()  # it comes with one point
    spline.points.add(len(points) - 1)
    spline.use_cyclic = True
    spline.use_fill = True
    for point, co in zip(spline.points, points, strict=True):
        point.handle_type = "FREE"
        point.co = point.handle_left = point.handle_right = co


def _key_spline(mask: bpy.types.Mask, path: str, track: contour_splines.Track, width: int, height: int, group: str):
    """One LINEAR key per frame on x and y of every point's ``co`` and both its handles, written in bulk."""
    frames = sorted(track.shapes)
    shapes = np.stack([contour_splines.to_mask_space(track.shapes[frame], width, height) for frame in frames])
    for point in range(shapes.shape[1]):
        for prop, axis in itertools.product(_KEYED, range(2)):
            fcurve = _ensure_fcurve(mask, f"{path}.points[{point}].{prop}", axis, group)
            fcurve.keyframe_points.add(len(frames))
            fcurve.keyframe_points.foreach_set(
                "co", np.column_stack([frames, shapes[:, point, axis]]).astype(np.float32).ravel()
            )
            fcurve.keyframe_points.foreach_set("interpolation", [_LINEAR] * len(frames))
            fcurve.update()


def _ensure_fcurve(mask: bpy.types.Mask, data_path: str, index: int, group: str) -> bpy.types.FCurve:
    """The F-curve for ``data_path[index]``, creating the mask's action first when it has none."""
    animation = mask.animation_data or mask.animation_data_create()
    if animation.action is None:
        animation.action = bpy.data.actions.new(f"{mask.name} splines")
    action = animation.action
    if bpy.app.version >= (5, 0, 0):
        return action.fcurve_ensure_for_datablock(mask, data_path, index=index, group_name=group)
    if hasattr(action, "fcurve_ensure_for_datablock"):  # 4.4 and 4.5: it also binds the action's slot to the mask
        fcurve = action.fcurve_ensure_for_datablock(mask, data_path, index=index)
        fcurve.group = action.groups.get(group) or action.groups.new(group)
        return fcurve
    return action.fcurves.find(data_path, index=index) or action.fcurves.new(data_path, index=index, action_group=group)
