"""Writing results: label maps as palette PNGs and per-object soft mattes as 8/16-bit PNG or half-float EXR.

- Label map (`write_label_map`): an 8-bit palette PNG with the DAVIS palette (`engine.io.palette`), the format
  DAVIS tools evaluate and the one `engine.io.masks.read_mask` reads back to the same ids, so a result can be
  the keyframe of the next run.
- Soft matte (`write_matte`): one object's probability in [0, 1], single channel, so Blender loads it as
  Non-Color data with nothing to unpremultiply. Depth "8" and "16" are PNGs holding round(p * 255) and
  round(p * 65535); "half" is an OpenEXR with one half-float channel (Y), which keeps the soft edge without
  banding and is what Blender's compositor prefers.

Every file is written through `engine.io.atomic`, so an interrupted job never leaves a truncated matte.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engine.choices import MatteDepth
from engine.io.atomic import write_bytes_atomic
from engine.io.errors import InputError, OutputError
from engine.io.images import encode_image, read_file_bytes, read_image
from engine.io.palette import davis_palette
from engine.io.png import COLOUR_TYPE_INDEXED, decode_indexed, encode_indexed, read_header

MATTE_SUFFIXES: dict[str, str] = {"8": ".png", "16": ".png", "half": ".exr"}


def write_label_map(path: str | os.PathLike[str], labels: np.ndarray) -> Path:
    """Write an HxW label map (ids 0..255) atomically as a DAVIS-palette PNG; returns the path."""
    path = Path(path)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"a label map is a non-empty HxW integer array, got {labels.dtype} {labels.shape}")
    if labels.dtype != np.uint8 and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("label map ids must be within 0..255")
    _check_suffix(path, ".png", "a label map")
    return write_bytes_atomic(path, encode_indexed(labels.astype(np.uint8, copy=False), davis_palette()))


def read_label_map(path: str | os.PathLike[str]) -> np.ndarray:
    """A label map written by `write_label_map` (any palette PNG); unlike a keyframe mask it may be empty."""
    data = read_file_bytes(path, "label map")
    if read_header(data, path).colour_type != COLOUR_TYPE_INDEXED:
        raise InputError(f"label map {path} is not a palette PNG", path)
    return decode_indexed(data, path)[0]


def write_matte(path: str | os.PathLike[str], matte: np.ndarray, depth: MatteDepth | int = "8") -> Path:
    """Write one object's soft matte (HxW floats in [0, 1]) atomically at `depth` "8", "16" or "half"."""
    path = Path(path)
    depth = str(depth)
    if depth not in MATTE_SUFFIXES:
        raise ValueError(f"matte depth is one of {', '.join(MATTE_SUFFIXES)}, not {depth!r}")
    matte = np.asarray(matte)
    if matte.ndim != 2 or matte.size == 0 or not np.issubdtype(matte.dtype, np.floating):
        raise ValueError(f"a matte is a non-empty HxW float array, got {matte.dtype} {matte.shape}")
    if not np.isfinite(matte).all():
        raise ValueError("a matte must not hold NaN or infinite values")
    _check_suffix(path, MATTE_SUFFIXES[depth], f"a {depth}-bit matte" if depth != "half" else "a half-float matte")
    clipped = np.clip(matte.astype(np.float32), 0.0, 1.0)
    if depth == "half":
        data = encode_image(".exr", clipped, (cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_HALF))
    else:
        dtype, scale = (np.uint8, 255.0) if depth == "8" else (np.uint16, 65535.0)
        data = encode_image(".png", np.rint(clipped * scale).astype(dtype))
    return write_bytes_atomic(path, data)


def read_matte(path: str | os.PathLike[str]) -> np.ndarray:
    """A single-channel matte written by `write_matte`, as HxW float32 in [0, 1] (for resuming and checks)."""
    image = read_image(path, "matte")
    if image.ndim == 3:
        raise InputError(f"matte {path} has {image.shape[2]} channels; mattes have one", path)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32)
    raise InputError(f"matte {path} has unsupported samples ({image.dtype})", path)


def _check_suffix(path: Path, suffix: str, what: str) -> None:
    if path.suffix.lower() != suffix:
        raise OutputError(f"{what} is written as {suffix}, but the output path is {path}", path)
