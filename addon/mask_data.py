"""Read a ``bpy.types.Mask`` into the plain shapes that ``raster`` fills, so the rasteriser itself needs no ``bpy``."""

from __future__ import annotations

import bpy

from .core.raster import BezierPoint, LayerShape, SplineShape

# From Blender 5.2 a layer that fills holes fills by winding: a nested spline cuts only when wound the other way.
WINDING_HOLES_VERSION = (5, 2, 0)


def _point(point: bpy.types.MaskSplinePoint) -> BezierPoint:
    return BezierPoint(
        co=(point.co[0], point.co[1]),
        handle_left=(point.handle_left[0], point.handle_left[1]),
        handle_right=(point.handle_right[0], point.handle_right[1]),
    )


def _spline(spline: bpy.types.MaskSpline) -> SplineShape:
    return SplineShape(
        points=tuple(_point(point) for point in spline.points), cyclic=spline.use_cyclic, fill=spline.use_fill
    )


def _layer(layer: bpy.types.MaskLayer) -> LayerShape:
    return LayerShape(
        name=layer.name,
        splines=tuple(_spline(spline) for spline in layer.splines),
        blend=layer.blend,
        alpha=layer.alpha,
        invert=layer.invert,
        fill_holes=layer.use_fill_holes,
        hide_render=layer.hide_render,
        hole_rule="nonzero" if bpy.app.version >= WINDING_HOLES_VERSION else "even-odd",
    )


def mask_layers_at(mask: bpy.types.Mask, frame: int, scene: bpy.types.Scene | None = None) -> list[LayerShape]:
    """The mask's layers, bottom to top, as they are at ``frame`` of ``scene`` (the context scene by default).

    The scene is moved to ``frame`` first when it is elsewhere: evaluating the frame writes animated point
    coordinates (F-curves or layer shape keys) and recomputed auto handles back into the points read here.
    """
    scene = scene or bpy.context.scene
    if scene.frame_current != frame:
        scene.frame_set(frame)
    return [_layer(layer) for layer in mask.layers]
