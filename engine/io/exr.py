"""OpenEXR plates read with the ASWF `openexr` package: plain RGB(A) files and Blender's MultiLayer renders.

OpenCV reads only unnamed `R`, `G`, `B`, `A` (or `Y`) channels, and only with an environment switch. A render saved
as MultiLayer OpenEXR names its channels `<view layer>.<pass>.<channel>` (`ViewLayer.Combined.R`), which is what
studios hand roto artists, so every EXR plate is read here. The image of a file is, unless the artist names a
layer, its unnamed R, G, B channels, else its Combined pass: the one layer named `Combined` or ending in
`.Combined`. A named layer (`ViewLayer.Denoised`, or just `Denoised` where one layer ends so) must hold R, G and B.
The result has OpenCV's layout (float32, B G R [A], or one grey channel), so the rest of `engine.io.images` treats
it as any other decoded float image.

A plate in another colour space than scene-linear Rec.709 is converted from what its header declares
(`engine.io.exr_colour`).
"""

from __future__ import annotations

import io
import os

import numpy as np
import OpenEXR

from engine.io.errors import InputError
from engine.io.exr_colour import colour_space, to_rec709

MAGIC = b"\x76\x2f\x31\x01"  # the first four bytes of every OpenEXR file
COMBINED = "Combined"


def is_exr(data: bytes) -> bool:
    return data[:4] == MAGIC


def decode_exr(data: bytes, path: str | os.PathLike[str], what: str = "image", layer: str = "") -> np.ndarray:
    """The image (or the named `layer`) of an EXR file as scene-linear Rec.709 float32 in OpenCV's channel order;
    else an InputError."""
    try:
        with OpenEXR.File(io.BytesIO(data), separate_channels=True) as exr:
            header = dict(exr.header())  # a copy: the binding empties its own dict when the file closes
            channels = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception as error:  # the binding raises plain exceptions for truncated or corrupt files
        raise InputError(f"{what} {path} cannot be decoded: truncated or corrupt OpenEXR ({error})", path) from error
    prefix = _named_layer(channels, layer, path, what) if layer else _image_prefix(channels, path, what)
    space = colour_space(header, path, what)
    order = [name for name in ("B", "G", "R", "A") if prefix + name in channels]
    if not order:
        grey = channels["Y"].astype(np.float32)  # two dimensions, as OpenCV decodes one channel
        return grey if space.decode is None else space.decode(grey)
    image = np.stack([channels[prefix + name].astype(np.float32) for name in order], axis=2)
    return to_rec709(image, space) if order[:3] == ["B", "G", "R"] else image


def _image_prefix(channels: dict[str, np.ndarray], path: str | os.PathLike[str], what: str) -> str:
    """ "" for a plain RGB or grey file, else "<layer>." of the Combined pass; an InputError listing the layers."""
    if {"R", "G", "B"} <= channels.keys() or "Y" in channels:
        return ""
    layers = _layers(channels)
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


def _named_layer(channels: dict[str, np.ndarray], wanted: str, path: str | os.PathLike[str], what: str) -> str:
    """ "<layer>." of the layer the artist named, in full or by its last parts; an InputError listing the layers."""
    layers = _layers(channels)
    found = ", ".join(layers) or "none"
    matches = [layer for layer in layers if layer == wanted] or [
        layer for layer in layers if layer.endswith("." + wanted)
    ]
    if not matches:
        raise InputError(f"{what} {path} has no layer {wanted!r}; its layers: {found}", path)
    if len(matches) > 1:
        raise InputError(f"{what} {path} has several layers {wanted!r} ({', '.join(matches)}); name one in full", path)
    held = sorted(name.removeprefix(matches[0] + ".") for name in channels if name.startswith(matches[0] + "."))
    if not {"R", "G", "B"} <= set(held):
        raise InputError(
            f"layer {matches[0]!r} of {what} {path} has the channels {', '.join(held)}, not R, G and B: "
            "it is not a picture",
            path,
        )
    return matches[0] + "."


def _layers(channels: dict[str, np.ndarray]) -> list[str]:
    """The layer names of named channels (`ViewLayer.Combined` for `ViewLayer.Combined.R`), sorted."""
    return sorted({name.rpartition(".")[0] for name in channels if "." in name})
