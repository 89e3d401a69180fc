"""Rasterise Blender mask shapes with numpy, the way the compositor's Mask node does without feather.

This module never imports ``bpy``: it works on the plain dataclasses below, which ``mask_data`` fills from a
``bpy.types.Mask``, so the same code runs inside Blender (no OpenCV there) and in tests.

What is reproduced from Blender's mask rasteriser (``mask_rasterize.cc``), and checked against Mask node renders:

* **Curves.** Segment i of a spline is the cubic Bézier ``co[i], handle_right[i], handle_left[i+1], co[i+1]``. A
  cyclic spline adds the segment from the last point back to the first. A non-cyclic spline is still filled: its
  outline is closed by a straight edge from the last point to the first, as the Mask node renders it.
* **Coordinates.** Mask space scales the longer side of the frame to 0..1 and centres the shorter side on 0.5, with
  y up. So with ``s = max(width, height)``: ``x_px = (mx - 0.5) * s + width / 2`` and
  ``y_px_up = (my - 0.5) * s + height / 2``. Rows of the returned arrays run top to bottom (image order), so row
  ``r`` holds pixel centres at ``y_up = height - r - 0.5``.
* **Sampling.** A pixel is inside when its centre is inside the outline. The Mask node also always adds a one-pixel
  anti-aliasing strip on one side of every outline (``edge_band``); the part of it that reads above 0.5 is added, so
  the result equals the Mask node's output thresholded at 0.5.
* **Fill within a layer.** By default (``use_fill_holes`` off) a layer is the union of its splines' fills, whatever
  their orientation. With ``use_fill_holes`` on, splines of the layer are filled together: up to Blender 5.1 with
  the even-odd rule, so any spline inside another cuts a hole; from 5.2 with the non-zero winding rule, so only a
  spline wound opposite to the one around it cuts a hole (``hole_rule``, which ``mask_data`` sets from the running
  Blender). A self-intersecting spline is filled even-odd.
* **Layers.** ``composite`` blends layers bottom to top with Blender's formulas for every blend mode, ``alpha`` and
  ``invert``, clamping to 0..1 after each layer, and skips ``hide_render`` layers, as the Mask node does.

Left out: feather (point weights and feather points), falloff and motion blur. Open (non-cyclic) splines match
only approximately: the Mask node's anti-aliasing along them differs from the closed outline used here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Vec2 = tuple[float, float]

# Blender's cap on a spline's resolution (``MASK_RESOL_MAX``); the Mask node then uses a quarter of it, 4 to 512.
_RESOLUTION_MAX = 128


@dataclass(frozen=True)
class BezierPoint:
    """One spline control point in mask space: the point and its two handles."""

    co: Vec2
    handle_left: Vec2
    handle_right: Vec2


@dataclass(frozen=True)
class SplineShape:
    """An ordered run of control points; ``cyclic`` adds the Bézier segment from the last point to the first."""

    points: tuple[BezierPoint, ...]
    cyclic: bool = True
    fill: bool = True


@dataclass(frozen=True)
class LayerShape:
    """A mask layer at one frame: its splines and the settings the Mask node blends it with."""

    name: str
    splines: tuple[SplineShape, ...]
    blend: str = "MERGE_ADD"
    alpha: float = 1.0
    invert: bool = False
    fill_holes: bool = False
    hide_render: bool = False
    hole_rule: str = "even-odd"  # how ``fill_holes`` combines splines: "even-odd" (Blender <= 5.1) or "nonzero"


def _blend_merge_add(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return value + layer * (1.0 - value)


def _blend_merge_subtract(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return value - layer * value


def _blend_add(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return value + layer


def _blend_subtract(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return value - layer


def _blend_lighten(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return np.maximum(value, layer)


def _blend_darken(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return np.minimum(value, layer)


def _blend_mul(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return value * layer


def _blend_replace(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return value * (1.0 - alpha) + layer * alpha


def _blend_difference(value: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    return np.abs(value - layer)


_BLENDS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "MERGE_ADD": _blend_merge_add,
    "MERGE_SUBTRACT": _blend_merge_subtract,
    "ADD": _blend_add,
    "SUBTRACT": _blend_subtract,
    "LIGHTEN": _blend_lighten,
    "DARKEN": _blend_darken,
    "MUL": _blend_mul,
    "REPLACE": _blend_replace,
    "DIFFERENCE": _blend_difference,
}


def _segment_controls(spline: SplineShape) -> list[np.ndarray]:
    """The 4x2 control polygons of the spline's Bézier segments, with the closing one when cyclic."""
    points = spline.points
    count = len(points) if spline.cyclic else len(points) - 1
    controls = []
    for index in range(count):
        start, end = points[index], points[(index + 1) % len(points)]
        controls.append(np.array([start.co, start.handle_right, end.handle_left, end.co], dtype=np.float64))
    return controls


def chords_per_segment(spline: SplineShape, width: int, height: int) -> int:
    """How many equal steps in t the Mask node cuts each Bézier segment of the spline into.

    The Mask node fills Blender's polyline, not the exact curve, so we flatten the same way to land on the same
    pixels: the longest segment's control polygon in pixels of ``max(width, height)`` (truncated, capped at 128,
    ``BKE_mask_spline_resolution``), divided by 4 and clamped to 4..512 (``BKE_maskrasterize_handle_init``).
    Even at 4K a 32-step segment strays from the true curve by well under a pixel on shapes of ordinary size.
    """
    scale = float(max(width, height))
    resolution = 1
    for control in _segment_controls(spline):
        length = float(np.linalg.norm(np.diff(control, axis=0), axis=1).sum())
        resolution = max(resolution, int(length * scale))
    return min(max(min(resolution, _RESOLUTION_MAX) // 4, 4), 512)


def _flatten_segment(control: np.ndarray, steps: int) -> np.ndarray:
    """Points at ``t = i / steps`` (i < steps) on one cubic Bézier: the segment without its end point."""
    t = np.arange(steps, dtype=np.float64)[:, None] / steps
    u = 1.0 - t
    return u**3 * control[0] + 3.0 * u**2 * t * control[1] + 3.0 * u * t**2 * control[2] + t**3 * control[3]


def spline_outline(spline: SplineShape, steps: int) -> np.ndarray:
    """The spline flattened to a closed polyline (N x 2, mask space), ``steps`` chords per Bézier segment."""
    if len(spline.points) == 1:
        return np.array([spline.points[0].co], dtype=np.float64)
    pieces = [_flatten_segment(control, steps) for control in _segment_controls(spline)]
    if not spline.cyclic:
        pieces.append(np.array([spline.points[-1].co], dtype=np.float64))
    return np.concatenate(pieces)


def mask_to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Mask-space points to pixel coordinates, x right and y up, with pixel centres at ``i + 0.5``.

    Blender normalises the longer frame side to 0..1 and centres the shorter one (``BKE_mask_coord_from_frame``),
    so one scale ``max(width, height)`` applies to both axes around the frame centre.
    """
    scale = float(max(width, height))
    centre = np.array([width / 2.0, height / 2.0])
    return (np.asarray(points, dtype=np.float64) - 0.5) * scale + centre


def _crossings(polygons: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """Signed edge crossings per pixel: the running sum along a row is the winding number at each pixel centre.

    Each edge adds +1 (upward) or -1 (downward), on every pixel row whose centre line it crosses (half-open in y,
    so shared vertices count once), at the first pixel whose centre lies right of the crossing.
    Returns an int array (height, width) with row 0 at the top.
    """
    crossings = np.zeros((height, width + 1), dtype=np.int32)
    for polygon in polygons:
        if len(polygon) < 3:
            continue
        start, end = polygon, np.roll(polygon, -1, axis=0)
        low, high = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
        first_row = np.clip(np.ceil(low - 0.5), 0, height).astype(np.int64)
        counts = np.clip(np.ceil(high - 0.5), 0, height).astype(np.int64) - first_row
        edge = np.repeat(np.arange(len(polygon)), counts)
        rows_up = first_row[edge] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        x0, y0, x1, y1 = start[edge, 0], start[edge, 1], end[edge, 0], end[edge, 1]
        x = x0 + (rows_up + 0.5 - y0) * (x1 - x0) / (y1 - y0)
        columns = np.clip(np.ceil(x - 0.5), 0, width).astype(np.int64)
        np.add.at(crossings, (height - 1 - rows_up, columns), np.where(y1 > y0, 1, -1).astype(np.int32))
    return np.cumsum(crossings[:, :width], axis=1)


def fill_even_odd(polygons: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """Pixels whose centres lie inside the closed pixel-space polygons under the even-odd rule, (height, width)."""
    return (_crossings(polygons, width, height) % 2).astype(bool)


def fill_nonzero(polygons: Sequence[np.ndarray], width: int, height: int) -> np.ndarray:
    """Pixels whose centres lie inside the closed pixel-space polygons under the non-zero rule, (height, width)."""
    return _crossings(polygons, width, height) != 0


_HOLE_RULES: dict[str, Callable[[Sequence[np.ndarray], int, int], np.ndarray]] = {
    "even-odd": fill_even_odd,
    "nonzero": fill_nonzero,
}


def edge_band(outline: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Quads covering the part of the Mask node's anti-aliasing strip that reads above 0.5, one per outline edge.

    The Mask node always anti-aliases: it offsets every outline by ``1 / min(width, height)`` in frame-normalised
    space (x / width, y / height) along its averaged vertex normals, to the left of the direction of travel (y up),
    and ramps 1 -> 0 across that strip. Measured against renders, the ramp crosses 0.5 at ``sqrt(1/2)`` of the
    strip. It shows outside clockwise splines and inside the holes of counter-clockwise ones; elsewhere it lies on
    pixels that are filled anyway.
    """
    size = np.array([width, height], dtype=np.float64)
    normalised = outline / size
    incoming = normalised - np.roll(normalised, 1, axis=0)
    outgoing = np.roll(normalised, -1, axis=0) - normalised
    incoming /= np.maximum(np.linalg.norm(incoming, axis=1, keepdims=True), 1e-12)
    outgoing /= np.maximum(np.linalg.norm(outgoing, axis=1, keepdims=True), 1e-12)
    tangent = incoming + outgoing
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    reach = math.sqrt(0.5) / min(width, height)
    offset = (normalised + np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) * reach) * size
    after, offset_after = np.roll(outline, -1, axis=0), np.roll(offset, -1, axis=0)
    return [np.array([outline[i], after[i], offset_after[i], offset[i]]) for i in range(len(outline))]


def rasterize_layer(layer: LayerShape, width: int, height: int) -> np.ndarray:
    """The layer's own filled area as a bool array (height, width), before ``alpha``, ``invert`` and blending."""
    outlines = [
        mask_to_pixels(spline_outline(spline, chords_per_segment(spline, width, height)), width, height)
        for spline in layer.splines
        if spline.fill and spline.points
    ]
    if layer.fill_holes:
        filled = _HOLE_RULES[layer.hole_rule](outlines, width, height)
    else:
        filled = np.zeros((height, width), dtype=bool)
        for outline in outlines:
            filled |= fill_even_odd([outline], width, height)
    quads = [quad for outline in outlines if len(outline) >= 3 for quad in edge_band(outline, width, height)]
    return filled | fill_nonzero(quads, width, height)


def composite(layers: Sequence[LayerShape], width: int, height: int) -> np.ndarray:
    """The Mask node's unfeathered output, float32 (height, width) in 0..1: layers blended bottom (first) to top."""
    value = np.zeros((height, width), dtype=np.float64)
    for layer in layers:
        if layer.hide_render:
            continue
        coverage = rasterize_layer(layer, width, height).astype(np.float64)
        if layer.blend != "REPLACE":
            coverage *= layer.alpha
        if layer.invert:
            coverage = 1.0 - coverage
        value = np.clip(_BLENDS[layer.blend](value, coverage, layer.alpha), 0.0, 1.0)
    return value.astype(np.float32)


def label_map(layers: Sequence[LayerShape], width: int, height: int) -> np.ndarray:
    """One object per layer: uint8 (height, width) with 0 for background and ``i + 1`` where layer ``i`` is filled.

    Where layers overlap, the later layer (the higher id) wins, matching the top-most layer in Blender's stack.
    Blend modes, ``alpha``, ``invert`` and ``hide_render`` concern the composite matte and are ignored here: each
    layer stands for one object's own shape.
    """
    if len(layers) > 255:
        raise ValueError(f"a uint8 label map holds at most 255 layers, got {len(layers)}")
    labels = np.zeros((height, width), dtype=np.uint8)
    for index, layer in enumerate(layers, start=1):
        labels[rasterize_layer(layer, width, height)] = index
    return labels
