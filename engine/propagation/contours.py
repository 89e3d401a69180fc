"""Outlines of a matte as polygons at plate resolution, for vector masks in Blender and other compositors.

OpenCV traces the matte's 0.5 level (the boundary the label map draws) in two levels, outer outlines and the
holes in them, then simplifies each outline with Douglas-Peucker at `tolerance` pixels. Points are (x, y)
with the origin at the top-left pixel's centre.

A receiver takes a bounded number of points per object (the protocol's item limit). A matte too complex for it
(noise, hair, a thousand specks) is not a failed frame: the tolerance doubles until the outline fits, up to 8
pixels (coarser outlines are no use to an artist, and Douglas-Peucker then erases whole shapes); past that the
smallest outlines are left out. The `Outline` says which tolerance it was simplified at.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

FIRST_GROWN_TOLERANCE = 0.5  # pixels: where growing starts when exact outlines (tolerance 0) do not fit
MAX_GROWN_TOLERANCE = 8.0  # pixels: growing stops here, and the smallest outlines go instead


class Polygon(NamedTuple):
    points: np.ndarray  # (N, 2) float32, x then y
    hole: bool  # a hole in the outer polygon before it


class Outline(NamedTuple):
    """One object's polygons and the Douglas-Peucker tolerance they were simplified at (pixels)."""

    polygons: list[Polygon]
    tolerance: float


def trace_outline(matte: np.ndarray, tolerance: float = 1.0, max_points: int | None = None) -> Outline:
    """The polygons of `matte >= 0.5`, each outer outline followed by its holes (polygons under 3 points dropped),
    simplified at `tolerance`, or at the smallest doubling of it whose polygons hold at most `max_points` points in
    all; past `MAX_GROWN_TOLERANCE`, the outline keeps its largest polygons that fit."""
    traced = _trace(matte)
    polygons = _simplify_all(traced, tolerance)
    if max_points is None:
        return Outline(polygons, tolerance)
    grown = tolerance
    while _count(polygons) > max_points and grown < MAX_GROWN_TOLERANCE:
        grown = grown * 2 if grown > 0 else FIRST_GROWN_TOLERANCE
        polygons = _simplify_all(traced, grown)
    return Outline(_largest_that_fit(polygons, max_points), grown)


def _trace(matte: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """The raw outlines of `matte >= 0.5` with whether each is a hole, each outer outline before its holes."""
    binary = (np.asarray(matte) >= 0.5).astype(np.uint8)
    outlines, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    ordered: list[tuple[np.ndarray, bool]] = []
    for index, (_, _, first_child, parent) in enumerate(hierarchy[0]):
        if parent >= 0:
            continue  # holes are added after their outline
        ordered.append((outlines[index], False))
        child = first_child
        while child >= 0:
            ordered.append((outlines[child], True))
            child = hierarchy[0][child][0]
    return ordered


def _simplify_all(traced: list[tuple[np.ndarray, bool]], tolerance: float) -> list[Polygon]:
    return [polygon for outline, hole in traced for polygon in _simplified(outline, hole, tolerance)]


def _count(polygons: list[Polygon]) -> int:
    return sum(len(polygon.points) for polygon in polygons)


def _largest_that_fit(polygons: list[Polygon], max_points: int) -> list[Polygon]:
    """`polygons` in their order, without the smallest outlines (and their holes) while they do not fit."""
    if _count(polygons) <= max_points:
        return polygons
    groups: list[list[Polygon]] = []  # an outer polygon and its holes go or stay together
    for polygon in polygons:
        if polygon.hole and groups:
            groups[-1].append(polygon)
        else:
            groups.append([polygon])
    by_size = sorted(range(len(groups)), key=lambda i: -abs(cv2.contourArea(groups[i][0].points)))
    kept, total = set(), 0
    for index in by_size:
        size = _count(groups[index])
        if total + size <= max_points:
            kept.add(index)
            total += size
    return [polygon for index, group in enumerate(groups) if index in kept for polygon in group]


def _simplified(outline: np.ndarray, hole: bool, tolerance: float) -> list[Polygon]:
    points = cv2.approxPolyDP(outline, tolerance, closed=True) if tolerance > 0 else outline
    points = points.reshape(-1, 2).astype(np.float32)
    return [Polygon(points, hole)] if len(points) >= 3 else []
