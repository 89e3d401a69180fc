"""Keyframe masks: PNG files to an HxW uint8 label map (0 background, 1..255 object ids).

Accepted PNGs and how their pixels become object ids:

- Palette (indexed-colour) PNG, as DAVIS 2017 and YouTube-VOS ship: the palette index is the id, whatever
  colour the palette gives it. Read by `engine.io.png`, since OpenCV would turn indices into colours.
- Grey PNG (8 or 16 bits), by one rule:
  1. a single non-zero value (0/255 as DAVIS 2016 ships, 0/1, 0/65535, ...) is a binary mask: object 1;
  2. several non-zero values including full white (255, or 65535 in 16 bits) is an anti-aliased or soft
     single-object matte: object 1 where the value is at least half (>= 128 in 8 bits);
  3. several non-zero values without full white are object ids (a label map saved as grey, e.g. from numpy),
     which in 16 bits must not exceed 255.
  Rule 3 also catches a soft matte that never reaches white; its many "ids" then show up as ids the caller
  did not ask for, and as absent ids when it did ask.
- Colour PNG: grey if its three channels are equal everywhere; otherwise every colour must be a DAVIS palette
  colour (a palette mask re-saved as RGB by some tool) and maps back to that id.
- Alpha must be fully opaque: a transparent mask is ambiguous (is the alpha or the colour the mask?), so it
  is refused with a message rather than guessed.
- One PNG per object (`read_object_masks`): each file is read as above and every non-background pixel belongs
  to that file's object. Objects are painted in increasing id order, so where masks overlap the higher id wins
  (as the top layer wins in a compositor); an object entirely covered by others is then absent, an error.

Only PNG is accepted: lossy formats blur ids and edges. Every problem (missing file, not a PNG, truncated or
corrupt data, wrong size, no objects, ids absent) is an `InputError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from engine.io.errors import InputError
from engine.io.images import decode_image, read_file_bytes
from engine.io.palette import davis_palette
from engine.io.png import COLOUR_TYPE_INDEXED, decode_indexed, read_header

PathLike = str | os.PathLike[str]


def read_mask(path: PathLike, size: tuple[int, int] | None = None, ids: Iterable[int] | None = None) -> np.ndarray:
    """The label map of one mask PNG; see the module doc for the formats.

    `size` is the plate's (width, height), which the mask must match. `ids`, when given, are the objects the
    caller will track: each must be present. The mask must hold at least one object either way.
    """
    path = Path(path)
    labels = decode_mask(read_file_bytes(path, "mask"), path)
    check_mask_size(labels, path, size)
    if not labels.any():
        raise InputError(f"mask {path} holds no objects (every pixel is background)", path)
    if ids is not None:
        check_ids_present(labels, ids, path)
    return labels


def read_object_masks(paths: Mapping[int, PathLike], size: tuple[int, int] | None = None) -> np.ndarray:
    """One label map from one mask PNG per object (`{object id: path}`); higher ids win where masks overlap."""
    if not paths:
        raise InputError("no object masks were given")
    labels: np.ndarray | None = None
    first: Path | None = None
    for object_id in sorted(paths):
        path = Path(paths[object_id])
        if isinstance(object_id, bool) or not isinstance(object_id, int) or not 1 <= object_id <= 255:
            raise InputError(f"object id {object_id!r} of mask {path} is not an integer from 1 to 255", path)
        if labels is None:
            mask = read_mask(path, size)
            labels, first = np.zeros(mask.shape, np.uint8), path
        else:
            mask = _read_matching(path, size, labels, first)
        labels[mask != 0] = object_id
    assert labels is not None
    covered = sorted(set(paths) - set(object_ids(labels)))
    if covered:
        listed = ", ".join(str(i) for i in covered)
        raise InputError(f"mask ids {listed} absent from the keyframe: covered by the masks of higher ids")
    return labels


def decode_mask(data: bytes, path: PathLike) -> np.ndarray:
    """The label map in a mask PNG's bytes, before any check against the shot."""
    header = read_header(data, path)  # also refuses anything that is not a PNG
    if header.colour_type == COLOUR_TYPE_INDEXED:
        indices, _ = decode_indexed(data, path)
        return indices
    return labels_from_pixels(decode_image(data, path, "mask"), path)


def labels_from_pixels(image: np.ndarray, path: PathLike = "<array>") -> np.ndarray:
    """Label map of a decoded grey or colour mask (OpenCV channel order); see the module doc for the rules."""
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels in (2, 4):
        alpha = image[:, :, -1]
        if (alpha != np.iinfo(image.dtype).max).any():
            raise InputError(
                f"mask {path} has transparency; save it opaque (palette, grey 0/255 or one PNG per object)", path
            )
        image = image[:, :, :-1]
    if image.shape[2] == 1 or (image[:, :, :1] == image).all():
        return _labels_from_grey(image[:, :, 0], path)
    return _labels_from_colours(image[:, :, ::-1], path)


def object_ids(labels: np.ndarray) -> list[int]:
    """The object ids present in a label map, in increasing order, background excluded."""
    counts = np.bincount(labels.reshape(-1), minlength=256)
    return [int(i) for i in np.flatnonzero(counts[1:]) + 1]


def check_ids_present(labels: np.ndarray, ids: Iterable[int], path: PathLike) -> None:
    """Raise an InputError if any of `ids` has no pixel in the keyframe mask `labels`."""
    wanted = set()
    for object_id in ids:
        if isinstance(object_id, bool) or not isinstance(object_id, int | np.integer) or not 1 <= object_id <= 255:
            raise InputError(f"object id {object_id!r} is not an integer from 1 to 255")
        wanted.add(int(object_id))
    present = object_ids(labels)
    absent = sorted(wanted - set(present))
    if absent:
        listed = ", ".join(str(i) for i in absent)
        held = ", ".join(str(i) for i in present) or "none"
        raise InputError(f"mask ids {listed} absent from the keyframe mask {path} (it holds ids {held})", path)


def check_mask_size(labels: np.ndarray, path: PathLike, size: tuple[int, int] | None, of: str = "the frames") -> None:
    """Raise an InputError unless the mask is `size` (width, height); None accepts any size."""
    height, width = labels.shape
    if size is not None and (width, height) != tuple(size):
        raise InputError(f"mask {path} is {width}x{height} but {of} are {size[0]}x{size[1]}", path)


def _read_matching(path: Path, size: tuple[int, int] | None, labels: np.ndarray, first: Path | None) -> np.ndarray:
    """An object's mask, which must match the given size, or else the first object's mask."""
    if size is not None:
        return read_mask(path, size)
    mask = read_mask(path)
    check_mask_size(mask, path, (labels.shape[1], labels.shape[0]), of=f"mask {first}'s pixels")
    return mask


def _labels_from_grey(grey: np.ndarray, path: PathLike) -> np.ndarray:
    full = np.iinfo(grey.dtype).max
    counts = np.bincount(grey.reshape(-1), minlength=full + 1)
    values = np.flatnonzero(counts[1:]) + 1
    if len(values) <= 1:
        return (grey != 0).astype(np.uint8)
    if values[-1] == full:
        return (grey >= (full + 1) // 2).astype(np.uint8)
    if values[-1] > 255:
        raise InputError(
            f"mask {path} is 16-bit with values up to {values[-1]}: neither object ids (at most 255) "
            "nor a matte reaching white (65535)",
            path,
        )
    return grey.astype(np.uint8)


def _labels_from_colours(rgb: np.ndarray, path: PathLike) -> np.ndarray:
    if rgb.dtype != np.uint8:  # 16 bits: a palette colour c is stored as 257 * c
        if (rgb % 257).any():
            raise InputError(f"mask {path} is a 16-bit colour image whose colours are not the DAVIS palette", path)
        rgb = (rgb // 257).astype(np.uint8)
    keys = (rgb[:, :, 0].astype(np.int32) << 16) | (rgb[:, :, 1].astype(np.int32) << 8) | rgb[:, :, 2]
    colours, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    palette = davis_palette().astype(np.int32)
    lookup = {int(key): index for index, key in enumerate((palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2])}
    ids = np.zeros(len(colours), np.uint8)
    for position, key in enumerate(colours):
        if int(key) not in lookup:
            colour = (int(key) >> 16, (int(key) >> 8) & 255, int(key) & 255)
            raise InputError(
                f"mask {path} is a colour image with colour {colour}, which is not a DAVIS palette colour; save "
                "it as a palette PNG, a grey 0/255 PNG or one PNG per object",
                path,
            )
        ids[position] = lookup[int(key)]
    return ids[inverse].reshape(rgb.shape[:2])
