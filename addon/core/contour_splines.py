"""Turn the engine's per-frame contours into splines that can be keyed: same point count, stable starts and parts.

F-curves on mask points are index based, so every spline must keep one point count for the whole shot, point ``j``
must stay on the same stretch of outline from frame to frame (or the keyed shape swirls), and spline ``i`` of a
layer must stay on the same part of the object. This module does that with numpy alone (it runs inside Blender,
where OpenCV is not available):

* ``resample`` spaces ``count`` points evenly by arc length along each closed polygon.
* ``orient`` winds outlines one way and holes the other, so a hole cuts its outline under every fill rule
  Blender has used (even-odd up to 5.1, non-zero winding from 5.2).
* ``align`` picks the start point that moves the points least since the previous frame.
* ``match_parts`` keeps parts in persistent slots by nearest centroid, greedily.
* ``plan_tracks`` runs the three over a shot. A part that vanishes keeps its slot, collapsed just outside the frame
  nearest its last centroid (see ``collapsed``); a part that appears takes a new slot, collapsed outside nearest
  its first centroid on the frames before. Holes get slots of their own, matched only with
  holes: the layer fills holes (``use_fill_holes``), so a hole spline inside its outline cuts it out.

Contour points are plate pixels, x right and y down, with the top-left pixel's centre at (0, 0) (see
``Contours`` in docs/protocol.md); ``to_mask_space`` maps them to Blender's mask space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

COLLAPSED_RADIUS = 1e-3  # pixels: the size of a spline whose part is not on the frame
OFF_FRAME = 3.0  # pixels beyond the frame's edge where such a spline waits


def resample(polygon: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along the closed ``polygon`` (N, 2), from its first vertex.

    Even spacing gives every frame's outline the same point count, and makes point ``j`` a fixed fraction of the
    perimeter, which is what lets ``align`` compare frames point by point.
    """
    points = np.asarray(polygon, dtype=np.float64)
    closed = np.vstack([points, points[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    if along[-1] == 0.0:
        return np.repeat(points[:1], count, axis=0)
    targets = np.arange(count) * (along[-1] / count)
    return np.stack([np.interp(targets, along, closed[:, axis]) for axis in range(2)], axis=1)


def signed_area(polygon: np.ndarray) -> float:
    """The shoelace area of a closed polygon in plate pixels (y down): positive when it turns clockwise on screen."""
    x, y = np.asarray(polygon, dtype=np.float64).T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def orient(polygon: np.ndarray, hole: bool) -> np.ndarray:
    """``polygon`` wound clockwise on screen if an outline, counter-clockwise if a hole (reversed when needed).

    Opposite windings make a hole cut its outline under both the even-odd and the non-zero rule. This way round
    (measured on 5.0 and 5.2) ``raster`` and Blender's Mask node fill the written layer pixel for pixel alike.
    """
    clockwise = signed_area(polygon) > 0.0
    return polygon[::-1] if clockwise == hole else polygon


def collapsed(centre: np.ndarray, count: int, width: int, height: int) -> np.ndarray:
    """The spline of a part that is not on the frame: a tiny circle just outside the frame, nearest ``centre``.

    Blender's Mask node draws something from every spline, however small: a short line of full value where all
    points coincide, and its anti-aliasing strip (about a pixel wide) around a tiny circle, which lights the
    pixels around it (seen in 5.0 and 5.2). Past the frame's nearest edge by ``OFF_FRAME`` pixels, that lies on
    no pixel of the matte.
    """
    x, y = np.asarray(centre, dtype=np.float64)
    # Distance to each edge (pixel centres sit on integers, so the frame spans -0.5 .. size - 0.5) and where to go.
    exits = [
        (x + 0.5, (-0.5 - OFF_FRAME, y)),
        (width - 0.5 - x, (width - 0.5 + OFF_FRAME, y)),
        (y + 0.5, (x, -0.5 - OFF_FRAME)),
        (height - 0.5 - y, (x, height - 0.5 + OFF_FRAME)),
    ]
    outside = np.array(min(exits, key=lambda exit: exit[0])[1])
    angles = np.arange(count) * (2.0 * np.pi / count)
    return orient(outside + COLLAPSED_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1), hole=False)


def align(previous: np.ndarray | None, current: np.ndarray) -> np.ndarray:
    """``current`` (count, 2) rotated in start index to best match ``previous``, wound the same way.

    Best means the least summed squared distance between point ``j`` of both frames, over every cyclic shift;
    keys interpolated between the frames then move each point the shortest way. The direction is never flipped:
    ``orient`` fixed it, and a flipped hole would fill instead of cut.
    """
    if previous is None:
        return current
    count = len(current)
    shifts = (np.arange(count)[:, None] + np.arange(count)[None, :]) % count
    candidates = current[shifts]
    costs = ((candidates - previous[None]) ** 2).sum(axis=(1, 2))
    return candidates[int(np.argmin(costs))]


def to_mask_space(points_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Contour points (x right, y down, pixel centres on integers) to Blender mask space (y up).

    Inverse of ``raster.mask_to_pixels``, whose pixel centres sit at ``i + 0.5`` with y counted up from the bottom.
    """
    points = np.asarray(points_px, dtype=np.float64)
    raster_px = np.stack([points[:, 0] + 0.5, height - 0.5 - points[:, 1]], axis=1)
    scale = float(max(width, height))
    return (raster_px - np.array([width / 2.0, height / 2.0])) / scale + 0.5


def match_parts(previous_parts: np.ndarray, current_parts: Sequence[np.ndarray]) -> list[int]:
    """The slot of each current polygon: nearest previous slot centroid first, greedily; new slots count on.

    ``previous_parts`` holds one centroid per existing slot (K, 2). A polygon left over once every slot is taken
    gets slot K, K + 1, ... in order, so parts that appear extend the layer without renumbering the others.
    """
    centroids = [np.mean(part, axis=0) for part in current_parts]
    slots = [-1] * len(centroids)
    previous = np.asarray(previous_parts, dtype=np.float64).reshape(-1, 2)
    if centroids and len(previous):
        distances = np.linalg.norm(np.asarray(centroids)[:, None] - previous[None], axis=2)
        taken: set[int] = set()
        for flat in np.argsort(distances, axis=None):
            part, slot = divmod(int(flat), len(previous))
            if slots[part] < 0 and slot not in taken:
                slots[part] = slot
                taken.add(slot)
    fresh = iter(range(len(previous), len(previous) + slots.count(-1)))
    return [slot if slot >= 0 else next(fresh) for slot in slots]


@dataclass
class Track:
    """One spline of a layer through the shot: its points in plate pixels (count, 2) per scene frame."""

    hole: bool
    shapes: dict[int, np.ndarray] = field(default_factory=dict)
    last: np.ndarray | None = None  # the latest traced shape, what the next frame aligns to

    @property
    def centroid(self) -> np.ndarray:
        return np.mean(self.last, axis=0)


def plan_tracks(
    frames: Mapping[int, Sequence[tuple[np.ndarray, bool]]], count: int, width: int, height: int
) -> list[Track]:
    """Tracks for an object's contours ``{scene frame: [(points_px, is_hole), ...]}``, each keyed on every frame.

    ``width`` and ``height`` are the plate's: a part's spline waits outside the frame while the part is absent.

    Outlines and holes are matched separately, so a slot never switches between cutting and filling.
    """
    tracks: list[Track] = []
    for frame in sorted(frames):
        for hole in (False, True):
            kind = [track for track in tracks if track.hole == hole]
            parts = [orient(resample(points, count), hole) for points, is_hole in frames[frame] if is_hole == hole]
            centroids = np.array([track.centroid for track in kind]).reshape(-1, 2)
            for part, slot in zip(parts, match_parts(centroids, parts), strict=True):
                if slot >= len(kind):
                    kind.append(Track(hole))
                    tracks.append(kind[-1])
                kind[slot].last = align(kind[slot].last, part)
                kind[slot].shapes[frame] = kind[slot].last
    for track in tracks:
        _collapse_missing(track, sorted(frames), width, height)
    return tracks


def _collapse_missing(track: Track, frames: list[int], width: int, height: int) -> None:
    """Fill the frames where the part is absent with its spline collapsed outside the frame (``collapsed``)."""
    shapes = track.shapes
    present = sorted(shapes)
    for frame in frames:
        if frame not in shapes:
            nearest = present[0] if frame < present[0] else max(f for f in present if f < frame)
            shapes[frame] = collapsed(np.mean(shapes[nearest], axis=0), len(shapes[nearest]), width, height)
