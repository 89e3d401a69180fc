"""A network's confidence as an estimate of J, so that one review threshold means the same for every network.

The raw confidence (`engine.propagation.confidence`) orders frames well, but its scale is the network's own:
the published AFB-URR networks put their failures below 0.5, while the shipped lite0, whose background is
implicit, reports 0.60 to 0.85 on every frame, good or bad, so a threshold of 0.5 flagged nothing. A calibration
maps the raw value to the J that frames with that value had, on data the network was fitted on: a monotone
curve through (0, 0), the mean J of each run of similar raw values, and (1, 1). A frame below 0.5 is then one
the network expects to have lost more than half of the object, the DAVIS benchmark's own line between a success
and a failure. The curve is stored in the checkpoint by `engine publish --calibrate`; a network without one
reports its raw confidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

BINS = 20  # raw values are first averaged in this many groups of equal size, then made monotone
LEAST_PAIRS = 2 * BINS  # fewer object-frames than this say too little to fit a curve


@dataclass(frozen=True)
class ConfidenceCalibration:
    """Piecewise linear from `raw` (strictly increasing, 0 first, 1 last) to `estimate` (non-decreasing, the
    same ends)."""

    raw: tuple[float, ...]
    estimate: tuple[float, ...]

    def __post_init__(self) -> None:
        raw, estimate = self.raw, self.estimate
        if len(raw) != len(estimate) or len(raw) < 2:
            raise ValueError("a confidence calibration needs as many estimates as raw values, at least two")
        if not all(isinstance(v, float) and math.isfinite(v) and 0 <= v <= 1 for v in (*raw, *estimate)):
            raise ValueError("a confidence calibration holds finite numbers from 0 to 1 only")
        if raw[0] != 0 or raw[-1] != 1 or estimate[0] != 0 or estimate[-1] != 1:
            raise ValueError("a confidence calibration runs from (0, 0) to (1, 1)")
        if any(b <= a for a, b in pairwise(raw)) or any(b < a for a, b in pairwise(estimate)):
            raise ValueError("a confidence calibration must rise: raw values strictly, estimates never falling")

    def __call__(self, confidence: np.ndarray) -> np.ndarray:
        """The estimates of raw `confidence` values (any shape), as float32."""
        return np.interp(confidence, self.raw, self.estimate).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"raw": list(self.raw), "estimate": list(self.estimate)}

    @classmethod
    def from_dict(cls, values: Any) -> ConfidenceCalibration:
        """A stored calibration; raises ValueError for anything that is not one."""
        if not isinstance(values, Mapping) or set(values) != {"raw", "estimate"}:
            raise ValueError("a confidence calibration is a mapping with the keys 'raw' and 'estimate'")
        raw, estimate = values["raw"], values["estimate"]
        if not isinstance(raw, Sequence) or not isinstance(estimate, Sequence):
            raise ValueError("a confidence calibration's 'raw' and 'estimate' are lists of numbers")
        return cls(tuple(_number(v) for v in raw), tuple(_number(v) for v in estimate))


def fit_calibration(confidence: np.ndarray, j: np.ndarray) -> ConfidenceCalibration:
    """The calibration of paired raw confidences and J values (one pair per object and frame).

    Pairs sorted by confidence are averaged in `BINS` groups, then neighbouring groups are pooled wherever J
    would fall as confidence rises (pool-adjacent-violators), so the curve is monotone and rank order is kept.
    """
    confidence, j = np.asarray(confidence, np.float64), np.asarray(j, np.float64)
    if confidence.shape != j.shape or confidence.ndim != 1:
        raise ValueError("confidences and J values must be two lists of the same length")
    if len(j) < LEAST_PAIRS:
        raise ValueError(f"{len(j)} object-frames are too few to calibrate on; at least {LEAST_PAIRS} are needed")
    if not (np.isfinite(confidence).all() and np.isfinite(j).all()):
        raise ValueError("confidences and J values must be finite numbers")
    order = np.argsort(confidence, kind="stable")
    groups = np.array_split(order, BINS)
    blocks = [[confidence[g].sum(), j[g].sum(), len(g)] for g in groups]
    pooled: list[list[float]] = []
    for block in blocks:
        pooled.append(block)
        while len(pooled) > 1 and pooled[-2][1] / pooled[-2][2] >= pooled[-1][1] / pooled[-1][2]:
            last = pooled.pop()
            pooled[-1] = [a + b for a, b in zip(pooled[-1], last, strict=True)]
    knots = [(0.0, 0.0)]
    for raw_sum, j_sum, count in pooled:
        raw, estimate = raw_sum / count, min(max(j_sum / count, knots[-1][1]), 1.0)
        if 0 < raw < 1 and raw > knots[-1][0]:
            knots.append((float(raw), float(estimate)))
    knots.append((1.0, 1.0))
    return ConfidenceCalibration(tuple(k[0] for k in knots), tuple(k[1] for k in knots))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a confidence calibration holds numbers, not {value!r}")
    return float(value)
