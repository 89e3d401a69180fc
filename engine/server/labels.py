"""Label maps from keyframe mattes, as the protocol defines them for a `keyframe` given as mattes.

Each pixel holds the id of the object whose matte is highest there, if that matte is above one half, else 0
(background): a matte drawn by an artist says nothing about the background's own probability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def labels_from_mattes(mattes: np.ndarray, object_ids: Sequence[int], full: float = 1.0) -> np.ndarray:
    """The HxW uint8 label map of (K, H, W) mattes whose value `full` means fully inside."""
    if len(object_ids) == 0:
        return np.zeros(mattes.shape[1:], np.uint8)
    lookup = np.array([0, *object_ids], dtype=np.uint8)
    strongest = mattes.argmax(axis=0)
    inside = np.take_along_axis(mattes, strongest[None], axis=0)[0] > full / 2
    return np.where(inside, lookup[strongest + 1], 0).astype(np.uint8)


def present_objects(labels: np.ndarray) -> list[int]:
    """The object ids that occur in a label map, ascending."""
    return [int(i) for i in np.unique(labels) if i != 0]
