"""The confidence table: for every frame and object, how sure the network is, whether it lost the object, and
its area; written as CSV (spreadsheets, farm logs) and JSON (the Blender import, batch resume), and read back.

One row per (frame, object), ordered by frame then object:

- `frame`: zero-based index of the frame in the shot; `name`: the frame's name (`FrameSequence.names`, e.g.
  "00012" or a plate's number "1012"), which the matte files are named after;
- `object`: the object id (1..255); `confidence`: in [0, 1]; `lost`: whether the object is considered lost
  in that frame; `area`: the object's pixel count in that frame's label map.

CSV: a header line `frame,name,object,confidence,lost,area`, then one line per row; `lost` is `true`/`false`;
confidence is written with Python's shortest round-trip float repr, so a table reads back exactly.

JSON (UTF-8, one frame per line so it stays readable and diffable)::

    {"format": "maskprop-confidence", "version": 1, "frames": [
    {"frame": 0, "name": "00000", "objects": [{"id": 1, "confidence": 0.93, "lost": false, "area": 1234}]},
    ...
    ]}

Readers accept any JSON whitespace, check `format` and `version`, and report a malformed file as an
`InputError` naming the file and the line (CSV) or the field (JSON). Both writes are atomic.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.io.atomic import write_text_atomic
from engine.io.errors import InputError, OutputError
from engine.io.images import read_file_bytes

FORMAT = "maskprop-confidence"
VERSION = 1
CSV_COLUMNS = ("frame", "name", "object", "confidence", "lost", "area")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


@dataclass(frozen=True)
class ConfidenceRow:
    """One object in one frame. Values are checked and normalised to plain Python types on creation."""

    frame: int
    name: str
    object: int
    confidence: float
    lost: bool
    area: int

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        set_field(self, "frame", _integer(self.frame, "frame", 0))
        set_field(self, "object", _integer(self.object, "object", 1, 255))
        set_field(self, "area", _integer(self.area, "area", 0))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        if isinstance(self.confidence, bool) or not isinstance(self.confidence, float | int | np.floating):
            raise ValueError(f"confidence must be a number, not {self.confidence!r}")
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"confidence must be within [0, 1], not {self.confidence!r}")
        set_field(self, "confidence", float(self.confidence))
        if not isinstance(self.lost, bool | np.bool_):
            raise ValueError(f"lost must be a boolean, not {self.lost!r}")
        set_field(self, "lost", bool(self.lost))


def write_confidence(path: str | os.PathLike[str], rows: Iterable[ConfidenceRow]) -> Path:
    """Write the table as CSV or JSON, chosen by the file's extension (.csv, .json); atomic."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return write_text_atomic(path, confidence_csv(rows))
    if suffix == ".json":
        return write_text_atomic(path, confidence_json(rows))
    raise OutputError(f"a confidence table is written as .csv or .json, not {path}", path)


def read_confidence(path: str | os.PathLike[str]) -> list[ConfidenceRow]:
    """Read a table written by `write_confidence` (by extension), ordered by frame then object."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"confidence table {path} is neither .csv nor .json", path)
    data = read_file_bytes(path, "confidence table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"confidence table {path} is not UTF-8 text", path) from error
    return _parse_csv(text, path) if suffix == ".csv" else _parse_json(text, path)


def confidence_csv(rows: Iterable[ConfidenceRow]) -> str:
    """The CSV text of a table (see the module doc)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _ordered(rows):
        lost = "true" if row.lost else "false"
        writer.writerow((row.frame, row.name, row.object, repr(row.confidence), lost, row.area))
    return buffer.getvalue()


def confidence_json(rows: Iterable[ConfidenceRow]) -> str:
    """The JSON text of a table (see the module doc)."""
    frames: list[dict[str, Any]] = []
    for row in _ordered(rows):
        if not frames or frames[-1]["frame"] != row.frame:
            frames.append({"frame": row.frame, "name": row.name, "objects": []})
        entry = {"id": row.object, "confidence": row.confidence, "lost": row.lost, "area": row.area}
        frames[-1]["objects"].append(entry)
    lines = [json.dumps(frame, ensure_ascii=False, allow_nan=False) for frame in frames]
    head = f'{{"format": "{FORMAT}", "version": {VERSION}, "frames": ['
    return head + ("\n" + ",\n".join(lines) + "\n" if lines else "") + "]}\n"


def _ordered(rows: Iterable[ConfidenceRow]) -> list[ConfidenceRow]:
    ordered = sorted(rows, key=lambda row: (row.frame, row.object))
    for before, after in itertools.pairwise(ordered):
        if (before.frame, before.object) == (after.frame, after.object):
            raise ValueError(f"object {after.object} appears twice in frame {after.frame}")
        if before.frame == after.frame and before.name != after.name:
            raise ValueError(f"frame {after.frame} has two names, {before.name!r} and {after.name!r}")
    return ordered


def _parse_csv(text: str, path: Path) -> list[ConfidenceRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(column.strip() for column in header) != CSV_COLUMNS:
        raise InputError(f"confidence table {path} does not start with the header {','.join(CSV_COLUMNS)}", path)
    rows = []
    for fields in reader:
        if not fields:
            continue
        where = f"confidence table {path} line {reader.line_num}"
        if len(fields) != len(CSV_COLUMNS):
            raise InputError(f"{where}: {len(fields)} fields instead of {len(CSV_COLUMNS)}", path)
        frame, name, object_id, confidence, lost, area = (field.strip() for field in fields)
        try:
            rows.append(ConfidenceRow(int(frame), name, int(object_id), float(confidence), _boolean(lost), int(area)))
        except ValueError as error:
            raise InputError(f"{where}: {error}", path) from error
    return _checked_order(rows, path)


def _parse_json(text: str, path: Path) -> list[ConfidenceRow]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"confidence table {path} is not valid JSON: {error.msg} at line {error.lineno}", path
        ) from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"confidence table {path} is not a {FORMAT} document", path)
    if document.get("version") != VERSION:
        raise InputError(f"confidence table {path} has version {document.get('version')!r}; this reads {VERSION}", path)
    frames = document.get("frames")
    if not isinstance(frames, list):
        raise InputError(f"confidence table {path}: 'frames' is not a list", path)
    rows = []
    for f, frame in enumerate(frames):
        where = f"confidence table {path}: frames[{f}]"
        objects = frame.get("objects") if isinstance(frame, dict) else None
        if not isinstance(objects, list):
            raise InputError(f"{where} is not an object with an 'objects' list", path)
        for o, entry in enumerate(objects):
            try:
                if not isinstance(entry, dict):
                    raise ValueError("is not an object")
                rows.append(
                    ConfidenceRow(
                        frame.get("frame"),
                        frame.get("name"),
                        entry.get("id"),
                        entry.get("confidence"),
                        entry.get("lost"),
                        entry.get("area"),
                    )
                )
            except ValueError as error:
                raise InputError(f"{where}.objects[{o}]: {error}", path) from error
    return _checked_order(rows, path)


def _checked_order(rows: list[ConfidenceRow], path: Path) -> list[ConfidenceRow]:
    try:
        return _ordered(rows)
    except ValueError as error:
        raise InputError(f"confidence table {path}: {error}", path) from error


def _integer(value: Any, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{field} must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{field} must be {bounds}, not {value}")
    return int(value)


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"lost must be true or false, not {text!r}")
