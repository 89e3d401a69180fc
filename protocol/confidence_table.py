"""The confidence table's record and its JSON form, `confidence.json`: what the engine writes beside the mattes
and the add-on reads, merges and keys into the scene. One row type for both, so they cannot drift apart.

One row per (frame, object), ordered by frame then object:

- `frame`: zero-based index of the frame in the shot; `name`: the frame's name (e.g. "00012" or a plate's number
  "1012"), which the matte files are named after;
- `object`: the object id (1..255); `confidence`: in [0, 1]; `lost`: whether the object is considered lost
  in that frame; `area`: the object's pixel count in that frame's label map.

JSON (UTF-8, one frame per line so it stays readable and diffable)::

    {"format": "maskprop-confidence", "version": 1, "frames": [
    {"frame": 0, "name": "00000", "objects": [{"id": 1, "confidence": 0.93, "lost": false, "area": 1234}]},
    ...
    ]}

Readers accept any JSON whitespace, check `format` and `version`, and say which field of which frame is wrong.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "maskprop-confidence"
VERSION = 1


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


def ordered(rows: Iterable[ConfidenceRow]) -> list[ConfidenceRow]:
    """The rows by frame then object; ValueError if an object appears twice in a frame or a frame has two names."""
    rows = sorted(rows, key=lambda row: (row.frame, row.object))
    for before, after in itertools.pairwise(rows):
        if (before.frame, before.object) == (after.frame, after.object):
            raise ValueError(f"object {after.object} appears twice in frame {after.frame}")
        if before.frame == after.frame and before.name != after.name:
            raise ValueError(f"frame {after.frame} has two names, {before.name!r} and {after.name!r}")
    return rows


def frame_confidences(rows: Iterable[ConfidenceRow]) -> dict[int, float]:
    """Frame index -> the frame's confidence, in the rows' order: its least confident object's, the engine's rule
    for a frame (a frame is as good as its worst object)."""
    confidence: dict[int, float] = {}
    for row in rows:
        confidence[row.frame] = min(confidence.get(row.frame, 1.0), row.confidence)
    return confidence


def table_json(rows: Iterable[ConfidenceRow]) -> str:
    """The JSON text of a table (see the module doc)."""
    frames: list[dict[str, Any]] = []
    for row in ordered(rows):
        if not frames or frames[-1]["frame"] != row.frame:
            frames.append({"frame": row.frame, "name": row.name, "objects": []})
        entry = {"id": row.object, "confidence": row.confidence, "lost": row.lost, "area": row.area}
        frames[-1]["objects"].append(entry)
    lines = [json.dumps(frame, ensure_ascii=False, allow_nan=False) for frame in frames]
    head = f'{{"format": "{FORMAT}", "version": {VERSION}, "frames": ['
    return head + ("\n" + ",\n".join(lines) + "\n" if lines else "") + "]}\n"


def parse_table_json(text: str, source: str) -> list[ConfidenceRow]:
    """The ordered rows of a table's JSON text; ValueError naming `source` (e.g. "confidence table PATH") and
    the field that is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not valid JSON: {error.msg} at line {error.lineno}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{source} is not a {FORMAT} document")
    if document.get("version") != VERSION:
        raise ValueError(f"{source} has version {document.get('version')!r}; this reads {VERSION}")
    frames = document.get("frames")
    if not isinstance(frames, list):
        raise ValueError(f"{source}: 'frames' is not a list")
    rows = [row for index, frame in enumerate(frames) for row in _frame_rows(frame, f"{source}: frames[{index}]")]
    try:
        return ordered(rows)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error


def _frame_rows(frame: Any, where: str) -> list[ConfidenceRow]:
    objects = frame.get("objects") if isinstance(frame, dict) else None
    if not isinstance(objects, list):
        raise ValueError(f"{where} is not an object with an 'objects' list")
    rows = []
    for index, entry in enumerate(objects):
        try:
            if not isinstance(entry, dict):
                raise ValueError("is not an object")
            values: Any = entry  # JSON values of any type: ConfidenceRow checks each
            row = ConfidenceRow(
                frame.get("frame"),
                frame.get("name"),
                values.get("id"),
                values.get("confidence"),
                values.get("lost"),
                values.get("area"),
            )
            rows.append(row)
        except ValueError as error:
            raise ValueError(f"{where}.objects[{index}]: {error}") from error
    return rows


def _integer(value: Any, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{field} must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{field} must be {bounds}, not {value}")
    return int(value)
