"""The unit of training data: a short clip of frames with its label maps, and what produces clips.

A source's `sample(rng)` draws every random choice from the generator it is handed, so a clip is a pure function
of the generator's state: the training loop saves one seed per step and resumes exactly where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.io.masks import object_ids


@dataclass(frozen=True, eq=False)  # eq=False: `==` over arrays has no single truth value
class Clip:
    """`frames` (T, H, W, 3) uint8 RGB and `labels` (T, H, W) uint8.

    Labels are 0 for background and 1..K for objects, and frame 0 holds every one of 1..K: the network learns
    to follow what the first frame's mask shows, so an id that frame 0 lacks could never be tracked and would
    only teach it to invent objects.
    """

    frames: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        frames, labels = self.frames, self.labels
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if labels.dtype != np.uint8 or labels.shape != frames.shape[:3]:
            raise ValueError(f"labels must be {frames.shape[:3]} uint8, got {labels.shape} {labels.dtype}")
        if 0 in frames.shape:
            raise ValueError(f"a clip needs at least one frame of at least one pixel, got {frames.shape}")
        count, first = int(labels.max()), object_ids(labels[0])
        if first != list(range(1, count + 1)):
            raise ValueError(f"object ids must be 1..{count}, all present in frame 0, which holds {first}")

    @property
    def object_count(self) -> int:
        """K, the number of objects to track."""
        return int(self.labels.max())


def check_clip_arguments(frames: int, size: tuple[int, int], max_objects: int, least_side: int = 1) -> None:
    """Raise a ValueError unless clips of `frames` frames of `size` (height, width) with up to `max_objects`
    objects can be made: sources check when they are built, so a bad option fails before training starts."""
    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, got frames={frames}")
    if len(size) != 2 or min(size) < least_side:
        raise ValueError(f"size must be (height, width), each at least {least_side} pixels, got {size}")
    if not 1 <= max_objects <= 255:  # ids are uint8
        raise ValueError(f"max_objects must be from 1 to 255, got {max_objects}")


class ClipSource(Protocol):
    """Anything that draws clips; frame count and size are fixed when the source is built."""

    def sample(self, rng: np.random.Generator) -> Clip:
        """One clip, every random choice taken from `rng`."""
        ...
