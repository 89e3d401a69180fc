"""Propagator results as protocol messages, and the per-object statistics a summary reports.

The propagator orders objects by id; a result lists them in the order the session declared them, which is
what receivers are promised. Mattes are quantised to the requested integer dtype, the label map is the
propagator's own (the one `propagate` writes to disk), the uncertainty is sent as float16 and contours as one
points buffer per object with polygon starts and hole flags.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.propagation.contours import Outline
from engine.propagation.frame_result import FrameResult, ObjectState
from protocol import messages as m

MATTE_SCALE = {"uint8": 255, "uint16": 65535}


def to_result(
    result: FrameResult, outputs: m.Outputs, object_order: Sequence[int], sequence: int, timing: m.Timing
) -> m.Result:
    """The `result` body for one propagated frame (objects in `object_order`, the session's order)."""
    channel = {object_id: k for k, object_id in enumerate(result.object_ids)}
    states = {state.id: state for state in result.objects}
    mattes = result.mattes[[channel[object_id] for object_id in object_order]]
    return m.Result(
        frame=result.index,
        objects=[_object_result(states[object_id]) for object_id in object_order],
        mattes=quantize(mattes, outputs.matte_dtype),
        sequence=sequence,
        labels=result.labels if outputs.labels else None,
        uncertainty=np.clip(result.uncertainty, 0, 1).astype(np.float16) if outputs.uncertainty else None,
        contours=_contours(result, object_order) if outputs.contours else None,
        source=result.source,
        timing=timing,
    )


def quantize(mattes: np.ndarray, dtype: str) -> np.ndarray:
    """Soft mattes in [0, 1] as uint8 (255 = inside) or uint16 (65535 = inside), rounded to nearest."""
    scale = MATTE_SCALE[dtype]
    return np.rint(np.clip(mattes, 0, 1) * scale).astype(dtype)


def result_bytes(objects: int, height: int, width: int, outputs: m.Outputs) -> int:
    """The size of one result's arrays (contours aside, which are small next to a plate)."""
    plane = height * width
    size = objects * plane * np.dtype(outputs.matte_dtype).itemsize
    return size + plane * (int(outputs.labels) + 2 * int(outputs.uncertainty))


@dataclass
class ObjectStats:
    """One object's confidence and losses over the results a propagate has sent."""

    total: float = 0.0
    lowest: float = 1.0
    lost: int = 0
    count: int = 0


@dataclass
class ResultStats:
    """What `summary.objects` reports, accumulated as results go out."""

    objects: dict[int, ObjectStats] = field(default_factory=dict)

    def add(self, result: m.Result) -> None:
        for obj in result.objects:
            stats = self.objects.setdefault(obj.id, ObjectStats())
            stats.total += obj.confidence
            stats.lowest = min(stats.lowest, obj.confidence)
            stats.lost += int(obj.lost)
            stats.count += 1

    def summary(self) -> list[m.ObjectSummary]:
        return [
            m.ObjectSummary(
                id=object_id,
                mean_confidence=_fraction(stats.total / stats.count),
                min_confidence=stats.lowest,
                lost_frames=stats.lost,
            )
            for object_id, stats in self.objects.items()
        ]


def _object_result(state: ObjectState) -> m.ObjectResult:
    return m.ObjectResult(id=state.id, confidence=_fraction(state.confidence), lost=state.lost, area=state.area)


def _contours(result: FrameResult, object_order: Sequence[int]) -> list[m.Contours]:
    traced = result.contours or {}
    return [_object_contours(i, traced[i]) for i in object_order if i in traced and traced[i].polygons]


def _object_contours(object_id: int, outline: Outline) -> m.Contours:
    polygons = outline.polygons
    sizes = [len(polygon.points) for polygon in polygons]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    points = np.concatenate([polygon.points for polygon in polygons]).astype(np.float32)
    holes = [polygon.hole for polygon in polygons]
    return m.Contours(id=object_id, points=points, starts=starts, holes=holes, tolerance=outline.tolerance)


def _fraction(value: float) -> float:
    """A confidence the wire accepts: finite and within [0, 1] (rounding can step just outside)."""
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0
