"""The work behind the Propagate panel: gather a run's inputs from Blender, store its results, import them.

Operators and panels only call these functions, and the tests call them directly, since timers and modal
handlers do not run in the `bpy` module. The engine sends results over the connection; `ResultSink` writes
them into a cache folder in the engine's own output layout (16-bit PNG mattes and `confidence.json`), so the
tested `results_import.import_results` brings them in and the files outlive the session.

Frame numbers: the clip's frame 1 shows on scene frame `clip.frame_start`, and shot index `i` is clip frame
`i + 1`; matte files are named after clip frames. Object `i + 1` is mask layer `i`, so ids stay put when a
layer is disabled.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import mask_data, raster, results_import
from .session import Engine, FrameFiles, FrameStream, Progress, PropagationRun, Settings, Shot

CACHE_DIR = "maskprop_cache"  # next to the .blend file, or in the temporary folder for an unsaved file

DIRECTIONS = [
    ("both", "Both", "Propagate forward and backward from the keyframe"),
    ("forward", "Forward", "Propagate to later frames only"),
    ("backward", "Backward", "Propagate to earlier frames only"),
]
READERS = [
    ("global", "Global", "Match each frame against the whole memory (most robust)"),
    ("kernel", "Kernel", "Match within a window around each position (steadier on small objects)"),
    ("spatial", "Spatial", "Match nearby positions only (fastest)"),
]


class MASKPROP_object(bpy.types.PropertyGroup):
    """Whether one mask layer (by name) takes part; mask layers cannot hold properties of their own."""

    enabled: BoolProperty(name="Propagate", description="Propagate this layer", default=True)


def _threshold_changed(settings: bpy.types.PropertyGroup, context: bpy.types.Context) -> None:
    remark_review(settings.id_data)  # a named function: the annotations are evaluated apart from this module


class MASKPROP_settings(bpy.types.PropertyGroup):
    """The panel's settings, saved with the scene."""

    use_clip_range: BoolProperty(name="Whole Clip", description="Propagate over every frame of the clip", default=True)
    first: IntProperty(name="First", description="First scene frame to propagate to", default=1)
    last: IntProperty(name="Last", description="Last scene frame to propagate to", default=250)
    direction: EnumProperty(name="Direction", items=DIRECTIONS, default="both")
    reader: EnumProperty(name="Reader", description="How the network reads its memory", items=READERS)
    max_size: IntProperty(
        name="Internal Size",
        description="Shorter side the engine works at, in pixels; 0 works at the clip's own size",
        default=480,
        min=0,
        max=4096,
    )
    threshold: FloatProperty(
        name="Review Below",
        description="Frames whose confidence is below this get a review marker",
        default=0.5,
        min=0.0,
        max=1.0,
        update=_threshold_changed,
    )
    objects: CollectionProperty(type=MASKPROP_object)
    result_folder: StringProperty(name="Results", description="Cache folder of the last imported run")
    result_mask: StringProperty(name="Result Mask", description="Mask the last run was imported onto")
    result_first_frame: IntProperty(name="Result Start", description="Scene frame of the last run's shot frame 0")


def object_enabled(settings: MASKPROP_settings, layer_name: str) -> bool:
    """Layers are propagated unless the artist switched them off."""
    item = settings.objects.get(layer_name)
    return True if item is None else item.enabled


def set_object_enabled(settings: MASKPROP_settings, layer_name: str, enabled: bool) -> None:
    item = settings.objects.get(layer_name)
    if item is None:
        item = settings.objects.add()
        item.name = layer_name
    item.enabled = enabled


# --- inputs -------------------------------------------------------------------------------------------------


def shot_from_clip(clip: bpy.types.MovieClip, stream: bool) -> Shot:
    """The clip as the engine must know it; objects are filled in by `start_run`.

    With `stream` the frames of an image sequence are read here and sent; otherwise the engine reads the files
    (it must see the same paths). A movie can only be read by the engine: Blender offers no way to read frame
    N of a movie from Python.
    """
    path = bpy.path.abspath(clip.filepath)
    width, height = clip.size
    if clip.source == "MOVIE":
        if stream:
            raise ValueError("A movie clip cannot be streamed: set 'Frames As' to 'File Paths' in the preferences")
        frames: FrameFiles | FrameStream = FrameFiles(path)
    else:
        pattern, first_number = _sequence_pattern(path)
        frames = FrameStream(_image_reader(pattern, first_number)) if stream else FrameFiles(pattern, first_number)
    return Shot(clip.frame_duration, width, height, [], frames, name=clip.name)


def _sequence_pattern(first_file: str) -> tuple[str, int]:
    """`/plate/sh_1001.png` -> (`/plate/sh_####.png`, 1001): the engine's hash pattern and the first number."""
    folder, name = os.path.split(first_file)
    match = re.search(r"(\d+)(\.\w+)$", name)
    if match is None:
        raise ValueError(f"The clip's file {name!r} carries no frame number, so it is not an image sequence")
    digits = match.group(1)
    return os.path.join(folder, name[: match.start(1)] + "#" * len(digits) + match.group(2)), int(digits)


def _image_reader(pattern: str, first_number: int) -> Callable[[int], np.ndarray]:
    """Read frame `index` through Blender's image loading: byte images give their stored values, unconverted."""

    def read(index: int) -> np.ndarray:
        digits = pattern.count("#")
        path = pattern.replace("#" * digits, f"{first_number + index:0{digits}d}")
        image = bpy.data.images.load(path, check_existing=False)
        try:
            width, height = image.size
            pixels = np.empty(width * height * 4, np.float32)
            image.pixels.foreach_get(pixels)
        finally:
            bpy.data.images.remove(image)
        rgb = pixels.reshape(height, width, 4)[::-1, :, :3]  # Blender's rows run bottom-up
        return np.ascontiguousarray(np.round(rgb * 255.0).astype(np.uint8))

    return read


def keyframe_labels(
    mask: bpy.types.Mask, scene: bpy.types.Scene, frame: int, width: int, height: int, enabled: Callable[[str], bool]
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The label map of `mask` at scene `frame` and its objects (id, layer name), for the enabled layers.

    Only enabled layers are drawn, each with id `index + 1`, so a switched-off layer neither propagates nor
    hides the layers below it.
    """
    layers = mask_data.mask_layers_at(mask, frame, scene)
    labels = np.zeros((height, width), np.uint8)
    objects = []
    for object_id, layer in enumerate(layers, start=1):
        if object_id > 255:
            raise ValueError("A mask with more than 255 layers cannot be propagated")
        if enabled(layer.name):
            labels[raster.rasterize_layer(layer, width, height)] = object_id
            objects.append((object_id, layer.name))
    return labels, objects


def engine_from_preferences(prefs: Any) -> Engine:
    """The engine address, keys and timeout the artist set in the add-on's preferences."""
    from .connection import KeyFiles

    keys = KeyFiles(bpy.path.abspath(prefs.server_public_key_file), bpy.path.abspath(prefs.client_secret_key_file))
    return Engine(prefs.engine_address, keys, prefs.timeout)


def cache_folder(clip: bpy.types.MovieClip) -> Path:
    """Where a clip's results go: beside the saved .blend file, so they travel with the project."""
    base = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path(tempfile.gettempdir())
    return base / CACHE_DIR / bpy.path.clean_name(clip.name)


# --- results ------------------------------------------------------------------------------------------------


def write_png16(path: Path, image: np.ndarray) -> None:
    """Write a uint16 (height, width) image as a greyscale 16-bit PNG; Blender has no OpenCV to do it.

    Written to a temporary name first, so a reader never sees half a file.
    """
    height, width = image.shape
    rows = np.ascontiguousarray(image, dtype=">u2").view(np.uint8).reshape(height, 2 * width)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter type 0 before every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)


def frame_name(index: int) -> str:
    """Matte files are named after the clip frame number (1-based), which artists see in the clip editor."""
    return f"{index + 1:05d}"


@dataclass
class ResultSink:
    """Receives each result of a run (`__call__`) and imports them all at the end (`finish`)."""

    folder: Path
    scene: bpy.types.Scene
    mask: bpy.types.Mask
    first_frame: int  # scene frame of shot frame 0
    object_names: dict[int, str]
    rows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # shot frame -> confidence of its objects
    summary: results_import.ImportSummary | None = None

    def __call__(self, result: Any) -> None:
        """Write each object's 16-bit matte and keep its confidence row; runs on the main thread, per result."""
        for entry, matte in zip(result.objects, result.mattes, strict=True):
            folder = self.folder / "mattes" / f"obj{entry.id}"
            folder.mkdir(parents=True, exist_ok=True)
            write_png16(folder / f"{frame_name(result.frame)}.png", np.asarray(matte, np.uint16))
        self.rows[result.frame] = [
            {"id": e.id, "confidence": float(e.confidence), "lost": bool(e.lost), "area": int(e.area)}
            for e in result.objects
        ]

    def finish(self, threshold: float) -> results_import.ImportSummary:
        """Write `confidence.json` in the engine's format and import the folder into the scene."""
        frames = [{"frame": i, "name": frame_name(i), "objects": objects} for i, objects in sorted(self.rows.items())]
        document = {"format": results_import.CONFIDENCE_FORMAT, "version": results_import.CONFIDENCE_VERSION}
        text = json.dumps({**document, "frames": frames})
        (self.folder / results_import.CONFIDENCE_FILE).write_text(text, encoding="utf-8")
        self.summary = results_import.import_results(
            self.scene, self.mask, self.folder, threshold, self.first_frame, self.object_names
        )
        settings = self.scene.maskprop
        settings.result_folder, settings.result_mask = str(self.folder), self.mask.name
        settings.result_first_frame = self.first_frame
        return self.summary


# --- a run --------------------------------------------------------------------------------------------------


@dataclass
class Job:
    """A started run and where its results go; the modal operator keeps one between timer ticks."""

    run: PropagationRun
    sink: ResultSink
    progress: Progress = field(default_factory=lambda: Progress(0, 0, "running", "Waiting for the engine"))


def start_run(
    scene: bpy.types.Scene, clip: bpy.types.MovieClip, mask: bpy.types.Mask, engine: Engine, stream: bool
) -> Job:
    """Start propagating `mask` at the current frame over the panel's range; raises ValueError or RunFailed.

    Nothing in the scene changes until the run is done and `step` imports it, so a failed or cancelled run
    leaves the scene as it was.
    """
    settings = scene.maskprop
    shot = shot_from_clip(clip, stream)
    keyframe = scene.frame_current
    key_index = keyframe - clip.frame_start
    if not 0 <= key_index < shot.frame_count:
        raise ValueError(f"Frame {keyframe} is outside the clip (frames {clip.frame_start}-{_clip_end(clip)})")
    labels, objects = keyframe_labels(
        mask, scene, keyframe, shot.width, shot.height, lambda name: object_enabled(settings, name)
    )
    if not objects:
        raise ValueError(f"The mask {mask.name!r} has no enabled layers to propagate")
    first, last = (
        (0, shot.frame_count - 1)
        if settings.use_clip_range
        else (max(settings.first - clip.frame_start, 0), min(settings.last - clip.frame_start, shot.frame_count - 1))
    )
    if not first <= key_index <= last:
        raise ValueError(f"The keyframe {keyframe} must lie inside the range to propagate")
    shot = Shot(shot.frame_count, shot.width, shot.height, objects, shot.frames, shot.name)
    sink = ResultSink(cache_folder(clip), scene, mask, clip.frame_start, dict(objects))
    options = Settings(first, last, settings.direction, settings.reader, settings.max_size)
    run = PropagationRun(engine, shot, {key_index: labels}, options, sink)
    run.start()
    return Job(run, sink)


def _clip_end(clip: bpy.types.MovieClip) -> int:
    return clip.frame_start + clip.frame_duration - 1


def step(job: Job) -> Progress:
    """One timer tick: store what arrived; once the run is done, close it and import its results.

    A cancelled or failed run is closed without importing, so the scene never holds half a run; the mattes
    it wrote stay in the cache folder.
    """
    progress = job.progress = job.run.poll()
    if progress.finished:
        job.run.close()
        if progress.status == "done":
            job.sink.finish(job.sink.scene.maskprop.threshold)
    return progress


def remark_review(scene: bpy.types.Scene) -> None:
    """Re-key confidence and review markers of the last imported run at the scene's current threshold."""
    settings = scene.maskprop
    mask = bpy.data.masks.get(settings.result_mask)
    table = Path(settings.result_folder) / results_import.CONFIDENCE_FILE
    if mask is None or not settings.result_folder or not table.is_file():
        return
    rows = results_import.read_confidence_table(table)
    placed = [row._replace(frame=settings.result_first_frame + row.frame) for row in rows]
    results_import.key_confidence(scene, mask, placed, settings.threshold)


def next_review_frame(scene: bpy.types.Scene, current: int, direction: int) -> int | None:
    """The nearest review marker after (`direction` 1) or before (-1) `current`; None when there is none."""
    frames = [m.frame for m in scene.timeline_markers if m.name.startswith(results_import.MARKER_PREFIX)]
    ahead = [f for f in frames if (f - current) * direction > 0]
    return min(ahead, key=lambda f: abs(f - current)) if ahead else None


classes = (MASKPROP_object, MASKPROP_settings)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.maskprop = bpy.props.PointerProperty(type=MASKPROP_settings)


def unregister() -> None:
    del bpy.types.Scene.maskprop
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
