"""Turning `--data` specs into one clip source: procedural clips, DAVIS-format videos, still images, or
composites.

A folder is recognised by its layout: `JPEGImages/` and `Annotations/` make a DAVIS folder (2016 or 2017
masks), `images/` and `masks/` a folder of stills turned into synthetic clips. A prefix uses a DAVIS folder
another way: `stills:PATH` turns each of its annotated frames into a clip as a still would be, and
`composite:PATH` moves the objects of some of its videos over the footage of others. Several specs mix, each
drawn with probability proportional to its weight.
"""

from __future__ import annotations

from pathlib import Path

from engine.learning.clip import ClipSource
from engine.train.composite import CompositeClips
from engine.train.options import PROCEDURAL, DataSpec, TrainOptions
from engine.train.procedural import ProceduralClips
from engine.train.sources import DavisVideos, Mixture, StaticImages

PREFIXES = ("composite:", "stills:")


def build_source(options: TrainOptions) -> ClipSource:
    """One source over all of `options.data`; every folder is indexed (and checked) now."""
    sources = [_source(spec, options) for spec in options.data]
    if len(sources) == 1:
        return sources[0]
    return Mixture(sources, [spec.weight for spec in options.data])


def _source(spec: DataSpec, options: TrainOptions) -> ClipSource:
    if spec.source == PROCEDURAL:
        return ProceduralClips(options.frames, options.size, options.max_objects)
    kind, _, path = spec.source.partition(":") if spec.source.startswith(PREFIXES) else ("", "", spec.source)
    folder = Path(path).expanduser()
    if kind == "composite":
        return CompositeClips(folder, options.frames, options.size, options.max_objects)
    if kind == "stills":
        return StaticImages(folder, options.frames, options.size, options.max_objects)
    if (folder / "JPEGImages").is_dir() and (folder / "Annotations").is_dir():
        return DavisVideos(folder, options.frames, options.size, options.max_objects, options.max_skip)
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return StaticImages(folder, options.frames, options.size, options.max_objects)
    raise ValueError(
        f"--data {spec.source}: not 'procedural', and not a folder with JPEGImages/ and Annotations/ (videos) "
        "or images/ and masks/ (still images); composite: and stills: need a folder of videos"
    )
