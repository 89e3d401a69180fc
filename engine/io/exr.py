"""OpenEXR plates read with the ASWF `openexr` package: plain RGB(A) files and Blender's MultiLayer renders.

OpenCV reads only unnamed `R`, `G`, `B`, `A` (or `Y`) channels, and only with an environment switch. A render saved
as MultiLayer OpenEXR names its channels `<view layer>.<pass>.<channel>` (`ViewLayer.Combined.R`), which is what
studios hand roto artists, so every EXR plate is read here. The image of a multi-layer file is its Combined pass:
the one layer named `Combined` or ending in `.Combined`. The result has OpenCV's layout (float32, B G R [A], or one
grey channel), so the rest of `engine.io.images` treats it as any other decoded float image.
"""

from __future__ import annotations

import io
import os

import numpy as np
import OpenEXR

from engine.io.errors import InputError

MAGIC = b"\x76\x2f\x31\x01"  # the first four bytes of every OpenEXR file
COMBINED = "Combined"


def is_exr(data: bytes) -> bool:
    return data[:4] == MAGIC


def decode_exr(data: bytes, path: str | os.PathLike[str], what: str = "image") -> np.ndarray:
    """The image of an EXR file as float32 in OpenCV's channel order; an InputError naming `path` otherwise."""
    try:
        with OpenEXR.File(io.BytesIO(data), separate_channels=True) as exr:
            channels = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception as error:  # the binding raises plain exceptions for truncated or corrupt files
        raise InputError(f"{what} {path} cannot be decoded: truncated or corrupt OpenEXR ({error})", path) from error
    prefix = _image_prefix(channels, path, what)
    order = [name for name in ("B", "G", "R", "A") if prefix + name in channels]
    if not order:
        return channels["Y"].astype(np.float32)  # grey: two dimensions, as OpenCV decodes one channel
    return np.stack([channels[prefix + name].astype(np.float32) for name in order], axis=2)


def _image_prefix(channels: dict[str, np.ndarray], path: str | os.PathLike[str], what: str) -> str:
    """ "" for a plain RGB or grey file, else "<layer>." of the Combined pass; an InputError listing the layers."""
    if {"R", "G", "B"} <= channels.keys() or "Y" in channels:
        return ""
    layers = sorted({name.rpartition(".")[0] for name in channels if "." in name})
    combined = [layer for layer in layers if layer == COMBINED or layer.endswith("." + COMBINED)]
    with_colour = [layer for layer in combined if {f"{layer}.{c}" for c in "RGB"} <= channels.keys()]
    if len(with_colour) == 1:
        return with_colour[0] + "."
    found = ", ".join(layers) or "none"
    if len(with_colour) > 1:
        raise InputError(
            f"{what} {path} has several Combined passes ({', '.join(with_colour)}); save one view layer", path
        )
    raise InputError(f"{what} {path} has no RGB image and no Combined pass with R, G, B; its layers: {found}", path)
