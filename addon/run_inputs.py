"""A run's inputs as Blender holds them: the clip as the engine must know it (files or streamed pixels), the
keyframe's label map from the mask's layers, the engine from the preferences, and the clip's cache folder.

Frame numbers: the clip's frame 1 shows on scene frame `clip.frame_start`, and shot index `i` is clip frame
`i + 1`; matte files are named after clip frames.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import bpy
import numpy as np

from . import colour, mask_data, mask_layers
from .core import raster
from .core.session import Engine, FrameFiles, FrameStream, Shot

CACHE_DIR = "maskprop_cache"  # next to the .blend file, or in the temporary folder for an unsaved file


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
    from .core.connection import KeyFiles

    keys = KeyFiles(bpy.path.abspath(prefs.server_public_key_file), bpy.path.abspath(prefs.client_secret_key_file))
    return Engine(prefs.engine_address, keys, prefs.timeout)


def cache_folder(clip: bpy.types.MovieClip) -> Path:
    """Where a clip's results go: beside the saved .blend file, so they travel with the project."""
    base = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path(tempfile.gettempdir())
    return base / CACHE_DIR / bpy.path.clean_name(clip.name)
