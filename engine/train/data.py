"""Turning `--data` specs into one clip source: procedural clips, DAVIS-format videos, or still images.

A folder is recognised by its layout: `JPEGImages/` and `Annotations/` make a DAVIS folder (2016 or 2017
masks), `images/` and `masks/` a folder of stills turned into synthetic clips. Several specs mix, each drawn
with probability proportional to its weight.
"""

from __future__ import annotations

from pathlib import Path

from engine.train.clip import ClipSource
from engine.train.options import PROCEDURAL, DataSpec, TrainOptions
from engine.train.procedural import ProceduralClips
from engine.train.sources import DavisVideos, Mixture, StaticImages


def build_source(options: TrainOptions) -> ClipSource:
    """One source over all of `options.data`; every folder is indexed (and checked) now."""
    sources = [_source(spec, options) for spec in options.data]
    if len(sources) == 1:
        return sources[0]
    return Mixture(sources, [spec.weight for spec in options.data])


def _source(spec: DataSpec, options: TrainOptions) -> ClipSource:
    if spec.source == PROCEDURAL:
        return ProceduralClips(options.frames, options.size, options.max_objects)
    folder = Path(spec.source).expanduser()
    if (folder / "JPEGImages").is_dir() and (folder / "Annotations").is_dir():
        return DavisVideos(folder, options.frames, options.size, options.max_objects, options.max_skip)
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return StaticImages(folder, options.frames, options.size, options.max_objects)
    raise ValueError(
        f"--data {spec.source}: not 'procedural', and not a folder with JPEGImages/ and Annotations/ (videos) "
        "or images/ and masks/ (still images)"
    )
