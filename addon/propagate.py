"""The work behind the Propagate panel: gather a run's inputs from Blender, store its results, import them.

Operators and panels only call these functions, and the tests call them directly, since timers and modal
handlers do not run in the `bpy` module. The engine sends results over the connection; `ResultSink` keeps
them in the clip's cache folder (`result_cache`: 16-bit PNG mattes, `confidence.json`, traced outlines), merged
with the results of earlier runs, then brings the whole folder in: the mattes and confidence through
`results_import.import_results`, the outlines as one animated layer per object through `mask_layers`. So a
re-propagation over part of the shot replaces that part and keeps the rest, and the files outlive the session.

Frame numbers: the clip's frame 1 shows on scene frame `clip.frame_start`, and shot index `i` is clip frame
`i + 1`; matte files are named after clip frames. Object `i + 1` is the mask's layer `i` counting drawn layers
only (result layers written into the mask are not objects), so ids stay put when a layer is disabled.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import colour, mask_data, mask_layers, names, raster, result_cache, results_import
from .session import Engine, FrameFiles, FrameStream, PropagationRun, RunFailed, RunProgress, RunSettings, Shot

CACHE_DIR = "maskprop_cache"  # next to the .blend file, or in the temporary folder for an unsaved file
RESULT_MASK_SUFFIX = " propagated"  # the result Mask of "Shot" is "Shot propagated"

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
    use_network_size: BoolProperty(
        name="Network's Size",
        description="Work at the size the network was trained at (its best); off: at the Internal Size below",
        default=True,
    )
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
    write_into_mask: BoolProperty(
        name="Into This Mask",
        description=(
            "Add the propagated layers to this Mask, beside the drawn layers (which then stop rendering), "
            "instead of to a separate Mask named after it"
        ),
        default=False,
    )
    exr_layer: StringProperty(
        name="EXR Layer",
        description=(
            "Layer of MultiLayer EXR plates for the engine to read, in full (ViewLayer.Denoised) or by its pass "
            "name (Denoised); empty reads the image, else the Combined pass"
        ),
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


def shot_from_clip(clip: bpy.types.MovieClip, stream: bool, exr_layer: str = "") -> Shot:
    """The clip as the engine must know it; objects are filled in by `start_run`.

    With `stream` the frames of an image sequence are read here and sent; otherwise the engine reads the files
    (it must see the same paths). A movie can only be read by the engine: Blender offers no way to read frame
    N of a movie from Python. A chosen EXR layer is read by the engine too: Blender's image loading offers no
    way to pick the layer of a MultiLayer file.
    """
    path = bpy.path.abspath(clip.filepath)
    width, height = clip.size
    if stream and (clip.source == "MOVIE" or exr_layer):
        what = "A movie clip" if clip.source == "MOVIE" else f"The EXR layer {exr_layer!r}"
        raise ValueError(f"{what} cannot be streamed: set 'Frames As' to 'File Paths' in the preferences")
    if clip.source == "MOVIE":
        frames: FrameFiles | FrameStream = FrameFiles(path, exr_layer=exr_layer)
    else:
        pattern, first_number = _sequence_pattern(path)
        frames = (
            _streamed_sequence(pattern, first_number, clip.colorspace_settings.name)
            if stream
            else FrameFiles(pattern, first_number, exr_layer)
        )
    return Shot(clip.frame_duration, width, height, [], frames, name=clip.name)


def is_scene_linear(clip: bpy.types.MovieClip) -> bool:
    """Whether the clip's frames are float images (EXR, float TIFF), the only ones the scene's view applies to.

    Byte plates are sent with Blender's factory Standard view, so an engine without an OpenColorIO config serves
    every PNG or movie shot whatever the scene's view (docs/colour.md).
    """
    if clip.source == "MOVIE":
        return False
    image = bpy.data.images.load(bpy.path.abspath(clip.filepath), check_existing=False)
    try:
        return bool(image.is_float)
    finally:
        bpy.data.images.remove(image)


def _sequence_pattern(first_file: str) -> tuple[str, int]:
    """`/plate/sh_1001.png` -> (`/plate/sh_####.png`, 1001): the engine's hash pattern and the first number."""
    folder, name = os.path.split(first_file)
    match = re.search(r"(\d+)(\.\w+)$", name)
    if match is None:
        raise ValueError(f"The clip's file {name!r} carries no frame number, so it is not an image sequence")
    digits = match.group(1)
    return os.path.join(folder, name[: match.start(1)] + "#" * len(digits) + match.group(2)), int(digits)


def _streamed_sequence(pattern: str, first_number: int, colorspace: str) -> FrameStream:
    """The sequence's frames read through Blender's image loading, in the form the engine expects.

    Each image is read in the clip's colour space (`colorspace`), so an override the artist set on the clip holds.
    Byte images (PNG, JPEG) go as their stored display values, unconverted. Float images (EXR, 16-bit PNG) hold
    scene-linear values in Blender; they go as float16 marked "linear", and the engine applies the scene's view
    to them as it does to EXR files it reads itself, so streamed and read frames agree.
    """
    digits = pattern.count("#")

    def pixels(index: int) -> tuple[np.ndarray, bool]:
        path = pattern.replace("#" * digits, f"{first_number + index:0{digits}d}")
        image = bpy.data.images.load(path, check_existing=False)
        try:
            image.colorspace_settings.name = colorspace
            width, height = image.size
            values = np.empty(width * height * 4, np.float32)
            image.pixels.foreach_get(values)
            linear = image.is_float
        finally:
            bpy.data.images.remove(image)
        return values.reshape(height, width, 4)[::-1, :, :3], linear  # Blender's rows run bottom-up

    linear = pixels(0)[1]
    if linear and not colour.working_space_is_rec709():
        raise ValueError(
            "This blend file's working colour space is not Linear Rec.709, in which streamed float frames are sent: "
            "set 'Frames As' to 'File Paths' in the preferences, so the engine reads the EXR files themselves"
        )

    def read(index: int) -> np.ndarray:
        rgb = pixels(index)[0]
        return np.ascontiguousarray(rgb.astype(np.float16) if linear else np.round(rgb * 255.0).astype(np.uint8))

    return FrameStream(read, "linear" if linear else "srgb")


Layer = TypeVar("Layer")


def object_layers(layers: Iterable[Layer]) -> list[tuple[int, Layer]]:
    """The layers that are objects, with their ids: layers of results written into the mask are skipped."""
    drawn = [layer for layer in layers if not mask_layers.is_result_layer(layer.name)]
    return list(enumerate(drawn, start=1))


def keyframe_labels(
    mask: bpy.types.Mask, scene: bpy.types.Scene, frame: int, width: int, height: int, enabled: Callable[[str], bool]
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The label map of `mask` at scene `frame` and its objects (id, layer name), for the enabled layers.

    Only enabled layers are drawn, each with id `index + 1`, so a switched-off layer neither propagates nor
    hides the layers below it.
    """
    layers = object_layers(mask_data.mask_layers_at(mask, frame, scene))
    labels = np.zeros((height, width), np.uint8)
    objects = []
    for object_id, layer in layers:
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


# --- a run --------------------------------------------------------------------------------------------------


@dataclass
class StartedRun:
    """A started run and where its results go; the modal operator keeps one between timer ticks."""

    run: PropagationRun
    sink: ResultSink
    streamed: bool = False  # whether Blender sends the frames' pixels (else the engine reads the files)
    progress: RunProgress = field(default_factory=lambda: RunProgress(0, 0, "running", "Waiting for the engine"))
    # What to start instead if the engine refuses to read the frames' files (`start_run`'s automatic mode).
    streamed_instead: Callable[[], StartedRun] | None = None


UNREADABLE = ("forbidden", "not_found")  # the engine's answers to files outside its roots or not on its disk


def start_run(
    scene: bpy.types.Scene,
    clip: bpy.types.MovieClip,
    mask: bpy.types.Mask,
    engine: Engine,
    stream: bool | None,
    wait: bool = True,
) -> StartedRun:
    """Start propagating `mask` at the current frame over the panel's range; raises ValueError or RunFailed.

    `stream` None sends the frames as paths when the engine can read them and streams their pixels when it
    answers that it cannot (an engine on another machine, or one not allowed the clip's folder); a movie can
    only go as a path. Nothing in the scene or among the earlier results changes until the run is done and
    `step` merges and imports it, so a failed or cancelled run leaves both as they were.

    With `wait` False (the panel's way) nothing here waits for the engine: the run opens on a worker thread,
    `step` reports "connecting" meanwhile, and a failure to open (RunFailed) comes as a failed `step` instead.
    """

    def start(streamed: bool) -> StartedRun:
        return _start(scene, clip, mask, engine, streamed, wait)

    if stream is not None:
        return start(stream)
    fallback = None if clip.source == "MOVIE" else (lambda: start(True))
    try:
        job = start(False)
    except RunFailed as failure:
        if failure.code not in UNREADABLE or fallback is None:
            raise
        return fallback()
    job.streamed_instead = fallback
    return job


def _start(
    scene: bpy.types.Scene, clip: bpy.types.MovieClip, mask: bpy.types.Mask, engine: Engine, stream: bool, wait: bool
) -> StartedRun:
    settings = scene.maskprop
    shot = shot_from_clip(clip, stream, settings.exr_layer.strip())
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
    shot = replace(shot, objects=objects, view=colour.scene_view(scene) if is_scene_linear(clip) else {})
    folder = cache_folder(clip)
    result_cache.check_mergeable(folder, shot.width, shot.height)
    result_cache.discard_staged(folder)  # what a crashed run may have left
    sink = ResultSink(folder, scene, mask, clip.frame_start, (shot.width, shot.height))
    max_size = None if settings.use_network_size else settings.max_size
    options = RunSettings(first, last, settings.direction, settings.reader, max_size, contours=True)
    run = PropagationRun(engine, shot, {key_index: labels}, options, sink)
    if wait:
        run.start()
    else:
        run.begin()
    return StartedRun(run, sink, streamed=stream, progress=run.poll())


def _clip_end(clip: bpy.types.MovieClip) -> int:
    return clip.frame_start + clip.frame_duration - 1


def step(job: StartedRun) -> RunProgress:
    """One timer tick: store what arrived; once the run is done, close it and import its results.

    A cancelled or failed run is closed and its mattes dropped without importing, so neither the scene nor
    the cache folder ever holds half a run.
    """
    progress = job.progress = job.run.poll()
    failure = job.run.failure
    if failure is not None and failure.code in UNREADABLE and job.streamed_instead is not None:
        job.run.close()
        job.sink.discard()
        instead = job.streamed_instead()  # the engine cannot read the files: send their pixels
        job.run, job.sink, job.streamed, job.streamed_instead = instead.run, instead.sink, True, None
        progress = job.progress = instead.progress
        return progress
    if progress.finished:
        job.run.close()
        if progress.status == "done":
            job.sink.finish(job.sink.scene.maskprop.threshold)
        else:
            job.sink.discard()
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
