"""A clip's results on disk, kept across runs so that a re-propagation replaces only what it recomputed.

The cache folder holds the engine's output layout plus the traced outlines::

    mattes/obj<id>/<frame name>.png   16-bit soft matte per object and shot frame (the truth)
    confidence.json                   per frame and object: confidence, lost, area (the engine's format)
    contours/obj<id>.json             per shot frame the object's outlines in plate pixels, to rebuild its layer
    incoming/obj<id>/<frame name>.png the mattes of the run in progress

A run writes its mattes under `incoming/`; only `commit`, once the run is done, moves them into `mattes/` and
merges its confidence rows and outlines. A run replaces the (frame, object) entries it produced and leaves every
other one alone, so a re-propagation over part of the shot, or with other objects, keeps the rest of the earlier
results, and a cancelled or failed run leaves them exactly as they were. Every file is written to a temporary
name first and renamed, so a reader never sees half a file.

Shot frames are indices from 0; matte files are named after the clip frame (index + 1). Nothing here needs
`bpy`: the layers and the compositor are built from these files by the callers.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..vendored import protocol_module

_table = protocol_module("confidence_table")
_replace_atomically = protocol_module("atomic").replace_atomically  # a crashed Blender leaves old or whole files
ConfidenceRow = _table.ConfidenceRow  # `frame` is the shot index in the file, and a scene frame once placed
CONFIDENCE_FILE = "confidence.json"

MATTES, INCOMING, CONTOURS = "mattes", "incoming", "contours"
CONTOURS_FORMAT, CONTOURS_VERSION = "maskprop-contours", 1

Polygon = tuple[np.ndarray, bool]  # (points (N, 2) in plate pixels, x right and y down; is it a hole)


class ObjectContours(NamedTuple):
    """One object's outlines over the shot: the plate size they are measured in, and polygons per shot frame."""

    width: int
    height: int
    frames: dict[int, list[Polygon]]  # an empty list: the object was lost on that frame


def read_confidence_table(path: Path) -> list[ConfidenceRow]:
    """The rows of an engine `confidence.json`, ordered by frame then object; ValueError if it is not one."""
    return _table.parse_table_json(path.read_text(encoding="utf-8"), str(path))


def frame_name(index: int) -> str:
    """Matte files are named after the clip frame number (1-based), which artists see in the clip editor."""
    return f"{index + 1:05d}"


def write_png16(path: Path, image: np.ndarray) -> None:
    """Write a uint16 (height, width) image as a greyscale 16-bit PNG; Blender has no OpenCV to do it."""
    height, width = image.shape
    rows = np.ascontiguousarray(image, dtype=">u2").view(np.uint8).reshape(height, 2 * width)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter type 0 before every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    _replace_atomically(path, data)


def traced_polygons(result: Any) -> dict[int, list[Polygon]]:
    """The outlines of every object of a `protocol.messages.Result`, by object id.

    An object the engine traced nothing for (lost, or too small) gets an empty list rather than no entry, so
    that its layer knows the frame and collapses there instead of holding the last shape.
    """
    if result.contours is None:
        raise ValueError(f"the engine sent no outlines with frame {result.frame}, though they were asked for")
    polygons: dict[int, list[Polygon]] = {entry.id: [] for entry in result.objects}
    for traced in result.contours:
        ends = [*traced.starts[1:], len(traced.points)]
        points = np.asarray(traced.points, dtype=np.float64)
        spans = zip(traced.starts, ends, traced.holes, strict=True)
        polygons[traced.id] = [(points[start:end], hole) for start, end, hole in spans]
    return polygons


def stage_matte(folder: Path, object_id: int, index: int, matte: np.ndarray) -> None:
    """Keep one matte of the run in progress, beside the earlier results and apart from them."""
    staged = folder / INCOMING / f"obj{object_id}"
    staged.mkdir(parents=True, exist_ok=True)
    write_png16(staged / f"{frame_name(index)}.png", np.asarray(matte, np.uint16))


def discard_staged(folder: Path) -> None:
    """Drop the mattes of a run that will not be committed (cancelled, failed, or cut short by a crash)."""
    shutil.rmtree(folder / INCOMING, ignore_errors=True)


def check_mergeable(folder: Path, width: int, height: int) -> None:
    """Raise ValueError, before a run starts, when the earlier results in `folder` cannot take its results.

    That is an unreadable confidence table or outline file, or results of a plate of another size (the clip
    was replaced): merged, they would make sequences of mixed sizes. Nothing is written or removed.
    """
    try:
        if (folder / CONFIDENCE_FILE).is_file():
            read_confidence_table(folder / CONFIDENCE_FILE)
        for object_id, traced in read_contours(folder).items():
            if (traced.width, traced.height) != (width, height):
                raise ValueError(
                    f"object {object_id} was propagated on a {traced.width}x{traced.height} plate, "
                    f"this clip is {width}x{height}"
                )
    except ValueError as error:
        raise ValueError(
            f"The earlier results in {folder} cannot be merged with a new run ({error}): "
            "move that folder away to start afresh"
        ) from None


def commit(
    folder: Path,
    rows: Mapping[int, Sequence[Mapping[str, Any]]],
    contours: Mapping[int, Mapping[int, list[Polygon]]],
    width: int,
    height: int,
) -> None:
    """Merge a finished run into the cache: its staged mattes, its confidence `rows` and its `contours`.

    `rows` maps shot frames to the objects' entries (id, confidence, lost, area); `contours` maps object ids
    to {shot frame: polygons}. Mattes go first and the confidence table last, since the table says which
    frames exist.
    """
    staged = folder / INCOMING
    for matte in sorted(staged.glob("obj*/*.png")):
        target = folder / MATTES / matte.parent.name / matte.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(matte, target)
    discard_staged(folder)
    earlier = read_contours(folder)
    for object_id, frames in contours.items():
        merged = {**(earlier[object_id].frames if object_id in earlier else {}), **frames}
        _write_contours(folder, object_id, ObjectContours(width, height, merged))
    _write_confidence(folder, rows)


def _write_confidence(folder: Path, rows: Mapping[int, Sequence[Mapping[str, Any]]]) -> None:
    """The earlier table with this run's (frame, object) entries put in; a kept frame keeps its name."""
    path = folder / CONFIDENCE_FILE
    earlier = read_confidence_table(path) if path.is_file() else []
    names = {row.frame: row.name for row in earlier}
    merged = {(row.frame, row.object): row for row in earlier}
    for index, entries in rows.items():
        for entry in entries:
            name = names.get(index) or frame_name(index)
            row = ConfidenceRow(index, name, entry["id"], entry["confidence"], entry["lost"], entry["area"])
            merged[index, row.object] = row
    _replace_atomically(path, _table.table_json(merged.values()).encode("utf-8"))


def _write_contours(folder: Path, object_id: int, traced: ObjectContours) -> None:
    frames = [
        {"frame": index, "polygons": [{"hole": hole, "points": np.round(points, 3).tolist()} for points, hole in polys]}
        for index, polys in sorted(traced.frames.items())
    ]
    document = {
        "format": CONTOURS_FORMAT,
        "version": CONTOURS_VERSION,
        "width": traced.width,
        "height": traced.height,
        "frames": frames,
    }
    (folder / CONTOURS).mkdir(parents=True, exist_ok=True)
    _replace_atomically(folder / CONTOURS / f"obj{object_id}.json", json.dumps(document).encode("utf-8"))


def read_contours(folder: Path) -> dict[int, ObjectContours]:
    """Every object's outlines stored in `folder`, by object id; ValueError naming the file that is not one."""
    found = {}
    for path in sorted((folder / CONTOURS).glob("obj*.json")):
        try:
            object_id = int(path.stem.removeprefix("obj"))
            found[object_id] = _contours_document(json.loads(path.read_text(encoding="utf-8")))
        except (KeyError, TypeError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{path} is not a readable outline file: {error}") from None
    return found


def _contours_document(document: Any) -> ObjectContours:
    if not isinstance(document, dict) or document.get("format") != CONTOURS_FORMAT:
        raise ValueError(f"it is not a {CONTOURS_FORMAT} document")
    if document.get("version") != CONTOURS_VERSION:
        raise ValueError(f"it has version {document.get('version')!r}; this add-on reads {CONTOURS_VERSION}")
    frames = {int(frame["frame"]): [_polygon(p) for p in frame["polygons"]] for frame in document["frames"]}
    return ObjectContours(int(document["width"]), int(document["height"]), frames)


def _polygon(entry: dict) -> Polygon:
    points = np.asarray(entry["points"], dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or not len(points):
        raise ValueError(f"a polygon needs (x, y) points, not an array of shape {points.shape}")
    if not isinstance(entry["hole"], bool):
        raise TypeError(f"hole must be true or false, not {entry['hole']!r}")
    return points, entry["hole"]
