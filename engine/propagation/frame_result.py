"""What propagation gives for one frame, in plain numpy: what a shot's outputs are written from, whether the
network ran in this process or in an engine it talks to over the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.propagation.contours import Outline

Source = Literal["forward", "backward", "keyframe"]


@dataclass(frozen=True)
class ObjectState:
    id: int
    confidence: float
    lost: bool
    area: int  # plate pixels where the matte is at least 0.5


@dataclass(frozen=True)
class FrameResult:
    index: int
    source: Source
    object_ids: tuple[int, ...]
    mattes: np.ndarray  # (K, H, W) float32 in [0, 1], one per object id, plate resolution
    labels: np.ndarray  # (H, W) uint8 object ids, 0 = background
    uncertainty: np.ndarray  # (H, W) float32 URR uncertainty, 0 on keyframes
    objects: tuple[ObjectState, ...]
    contours: dict[int, Outline] | None = None

    @property
    def confidence(self) -> float:
        """The frame's confidence: its least confident object's (a frame is as good as its worst object)."""
        return min((obj.confidence for obj in self.objects), default=1.0)
