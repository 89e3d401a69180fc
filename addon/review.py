"""Review markers: frames whose confidence is below the panel's threshold, re-keyed when it changes, and the
nearest one before or after the current frame."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import bpy

from . import results_import
from .core import result_cache


def remark_review(scene: bpy.types.Scene) -> None:
    """Re-key confidence and review markers of the last imported run at the scene's current threshold."""
    settings = scene.maskprop
    mask = bpy.data.masks.get(settings.result_mask)
    table = Path(settings.result_folder) / result_cache.CONFIDENCE_FILE
    if mask is None or not settings.result_folder or not table.is_file():
        return
    rows = result_cache.read_confidence_table(table)
    placed = [replace(row, frame=settings.result_first_frame + row.frame) for row in rows]
    results_import.key_confidence(scene, mask, placed, settings.threshold)


def next_review_frame(scene: bpy.types.Scene, current: int, direction: int) -> int | None:
    """The nearest review marker after (`direction` 1) or before (-1) `current`; None when there is none."""
    frames = [m.frame for m in scene.timeline_markers if m.name.startswith(results_import.MARKER_PREFIX)]
    ahead = [f for f in frames if (f - current) * direction > 0]
    return min(ahead, key=lambda f: abs(f - current)) if ahead else None
