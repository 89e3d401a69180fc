"""Which passes a propagation runs, given the keyframes, the range to fill and the direction.

Keyframes cut the shot into segments. Each segment is filled by a forward pass from the keyframe before it,
a backward pass from the keyframe after it, or both (each frame then takes the more confident result).
Passes always start at a keyframe, even when the range to fill starts later, because the memory needs the
frames in between; they stop at the range's edge. So a segment's results do not depend on the range asked
for, and re-propagating after a corrected keyframe only has to redo the segments that touch it
(`affected_range`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["forward", "backward", "both"]
DIRECTIONS: tuple[Direction, ...] = ("forward", "backward", "both")


@dataclass(frozen=True)
class Segment:
    """Frames between keyframes (or a keyframe and the range's edge) and the passes that fill them."""

    outputs: tuple[int, ...]  # frames to emit, ascending
    forward_from: int | None  # keyframe a forward pass starts at
    forward_frames: tuple[int, ...]  # frames that pass goes through, in order
    backward_from: int | None
    backward_frames: tuple[int, ...]


def plan(keyframes: Sequence[int], first: int, last: int, direction: Direction) -> list[Segment]:
    """The segments that fill `first..last` (inclusive), in the order their results are emitted."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if not keyframes:
        raise ValueError("propagation needs at least one keyframe")
    if last < first:
        raise ValueError(f"the range {first}..{last} is empty")
    keys = sorted(set(keyframes))
    forward, backward = direction in ("forward", "both"), direction in ("backward", "both")
    bounds = [None, *keys, None]
    segments = []
    for before, after in itertools.pairwise(bounds):
        start = first if before is None else max(first, before + 1)
        stop = last if after is None else min(last, after - 1)
        if start > stop:
            continue
        forward_from = before if forward else None
        backward_from = after if backward else None
        if forward_from is None and backward_from is None:
            continue  # e.g. frames before the first keyframe when propagating forward only
        segments.append(
            Segment(
                outputs=tuple(range(start, stop + 1)),
                forward_from=forward_from,
                forward_frames=() if forward_from is None else tuple(range(forward_from + 1, stop + 1)),
                backward_from=backward_from,
                backward_frames=() if backward_from is None else tuple(range(backward_from - 1, start - 1, -1)),
            )
        )
    return segments


def affected_range(
    keyframes: Sequence[int], corrected: int, first: int, last: int, direction: Direction
) -> tuple[int, int] | None:
    """The frames whose results change when keyframe `corrected` is added or redrawn, within `first..last`."""
    keys = sorted(set(keyframes) | {corrected})
    position = keys.index(corrected)
    previous = keys[position - 1] if position > 0 else None
    following = keys[position + 1] if position + 1 < len(keys) else None
    start = corrected if direction == "forward" else (first if previous is None else previous + 1)
    stop = corrected if direction == "backward" else (last if following is None else following - 1)
    start, stop = max(start, first), min(stop, last)
    return (start, stop) if start <= stop else None
