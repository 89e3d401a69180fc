"""Outlines of a matte as polygons at plate resolution, for vector masks in Blender and other compositors.

OpenCV traces the matte's 0.5 level (the boundary the label map draws) in two levels, outer outlines and the
holes in them, then simplifies each outline with Douglas-Peucker at `tolerance` pixels. Points are (x, y)
with the origin at the top-left pixel's centre.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np


class Polygon(NamedTuple):
    points: np.ndarray  # (N, 2) float32, x then y
    hole: bool  # a hole in the outer polygon before it


def trace_contours(matte: np.ndarray, tolerance: float = 1.0) -> list[Polygon]:
    """The polygons of `matte >= 0.5`, each outer outline followed by its holes; polygons under 3 points dropped."""
    binary = (np.asarray(matte) >= 0.5).astype(np.uint8)
    outlines, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    polygons: list[Polygon] = []
    for index, (_, _, first_child, parent) in enumerate(hierarchy[0]):
        if parent >= 0:
            continue  # holes are added after their outline
        polygons.extend(_simplified(outlines[index], False, tolerance))
        child = first_child
        while child >= 0:
            polygons.extend(_simplified(outlines[child], True, tolerance))
            child = hierarchy[0][child][0]
    return polygons


def _simplified(outline: np.ndarray, hole: bool, tolerance: float) -> list[Polygon]:
    points = cv2.approxPolyDP(outline, tolerance, closed=True) if tolerance > 0 else outline
    points = points.reshape(-1, 2).astype(np.float32)
    return [Polygon(points, hole)] if len(points) >= 3 else []
