"""Where a run's results go: `ResultSink` keeps them in the clip's cache folder (`result_cache`: 16-bit PNG
mattes, `confidence.json`, traced outlines), merged with the results of earlier runs, then brings the whole folder
in: the mattes and confidence through `results_import.import_results`, the outlines as one animated layer per
object through `mask_layers`. So a re-propagation over part of the shot replaces that part and keeps the rest,
and the files outlive the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

from . import mask_layers, names, results_import
from .core import result_cache
from .run_inputs import object_layers

RESULT_MASK_SUFFIX = " propagated"  # the result Mask of "Shot" is "Shot propagated"


def result_mask(mask: bpy.types.Mask) -> bpy.types.Mask:
    """The Mask that holds the results of `mask`'s objects, found by name and created the first time."""
    name = names.fitted(mask.name, RESULT_MASK_SUFFIX, names.datablock_name_bytes())
    return bpy.data.masks.get(name) or bpy.data.masks.new(name)


def write_result_layers(
    target: bpy.types.Mask, folder: Path, object_names: Mapping[int, str], first_frame: int
) -> list[int]:
    """Rebuild each object's result layer in `target` from all the outlines in `folder`; returns the object ids.

    The layers are rebuilt over the whole shot rather than patched, because matching parts and aligning start
    points runs frame to frame: a replaced stretch must join the kept frames around it.
    """
    written = []
    for object_id, traced in result_cache.read_contours(folder).items():
        frames = {first_frame + index: polygons for index, polygons in traced.frames.items()}
        drawn = object_names.get(object_id, f"obj{object_id}")
        name = mask_layers.result_layer_name(drawn)
        mask_layers.write_object_layer(target, object_id, name, frames, traced.width, traced.height)
        mask_layers.record_layer_of(target, name, drawn)
        written.append(object_id)
    return written


@dataclass
class ResultSink:
    """Receives each result of a run (`__call__`); once it is done, merges and imports them (`finish`)."""

    folder: Path
    scene: bpy.types.Scene
    mask: bpy.types.Mask
    first_frame: int  # scene frame of shot frame 0
    size: tuple[int, int]  # the plate's width and height, which the outlines are measured in
    rows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # shot frame -> confidence of its objects
    contours: dict[int, dict[int, list[result_cache.Polygon]]] = field(default_factory=dict)  # id -> frame -> ...
    summary: results_import.ImportSummary | None = None

    def __call__(self, result: Any) -> None:
        """Stage each object's 16-bit matte and keep its confidence and outlines; runs on the main thread."""
        traced = result_cache.traced_polygons(result)
        for entry, matte in zip(result.objects, result.mattes, strict=True):
            result_cache.stage_matte(self.folder, entry.id, result.frame, matte)
            self.contours.setdefault(entry.id, {})[result.frame] = traced[entry.id]
        self.rows[result.frame] = [
            {"id": e.id, "confidence": float(e.confidence), "lost": bool(e.lost), "area": int(e.area)}
            for e in result.objects
        ]

    def finish(self, threshold: float) -> results_import.ImportSummary:
        """Merge the run into the cache folder, then import the folder: the shot's results, not only this run's.

        The layers go to the result Mask, or into the artist's Mask with "Into This Mask"; there the drawn
        layers of the objects that have results stop rendering, so a Mask node on it draws the results alone.
        The confidence stays on the artist's Mask either way.
        """
        result_cache.commit(self.folder, self.rows, self.contours, *self.size)
        settings = self.scene.maskprop
        target = self.mask if settings.write_into_mask else result_mask(self.mask)
        drawn = {object_id: layer.name for object_id, layer in object_layers(self.mask.layers)}
        written = write_result_layers(target, self.folder, drawn, self.first_frame)
        if target == self.mask:
            for object_id, layer in object_layers(self.mask.layers):
                if object_id in written:
                    layer.hide_render = True
        self.summary = results_import.import_results(
            self.scene, self.mask, self.folder, threshold, self.first_frame, drawn, vector_mask=target
        )
        settings.result_folder, settings.result_mask = str(self.folder), self.mask.name
        settings.result_first_frame = self.first_frame
        return self.summary

    def discard(self) -> None:
        """Forget a run that will not be finished; the earlier results in the folder stay as they were."""
        result_cache.discard_staged(self.folder)
