"""A finished shot's output folder (`engine.shots.output`), read back for review and checked against its plates
before any picture is drawn, so a wrong folder or plate fails at once with the file to fix."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.io import ConfidenceRow, FrameSequence, InputError, read_confidence, read_label_map, read_matte
from engine.io.mattes import MATTE_SUFFIXES
from engine.shots import manifest
from engine.shots.output import label_path, matte_folder
from protocol.confidence_table import frame_confidences

# Matte files are PNG or EXR by the run's matte format, which the folder does not record: each is looked for.
_MATTE_SUFFIXES = tuple(dict.fromkeys(MATTE_SUFFIXES.values()))


@dataclass(frozen=True)
class ShotResults:
    """The confidence table of a shot folder, with the keyframes its run started from."""

    folder: Path
    rows: tuple[ConfidenceRow, ...]
    keyframes: tuple[int, ...]

    @functools.cached_property
    def object_ids(self) -> tuple[int, ...]:
        return tuple(sorted({row.object for row in self.rows}))

    @functools.cached_property
    def names(self) -> dict[int, str]:
        """Frame index -> frame name, in frame order: the frames the run wrote."""
        return {row.frame: row.name for row in self.rows}

    @functools.cached_property
    def frame_confidence(self) -> dict[int, float]:
        """Frame index -> the frame's confidence: its least confident object's, as the engine rates a frame."""
        return frame_confidences(self.rows)

    def object_confidence(self, object_id: int) -> dict[int, float]:
        """Frame index -> one object's confidence, for the frames that track it."""
        return {row.frame: row.confidence for row in self.rows if row.object == object_id}

    def label_path(self, index: int) -> Path:
        return label_path(self.folder, self.names[index])

    def matte_path(self, index: int, object_id: int) -> Path:
        """The object's matte file in that frame, whichever format the run wrote (the PNG path if none exists)."""
        stem = matte_folder(self.folder, object_id) / self.names[index]
        paths = [stem.with_name(stem.name + suffix) for suffix in _MATTE_SUFFIXES]
        return next((path for path in paths if path.is_file()), paths[0])


def read_results(folder: str | Path, frames: FrameSequence) -> ShotResults:
    """The results in `folder`, checked: a non-empty confidence table whose frames are the plates' frames, and a
    label map and a matte for every row. Raises `InputError` naming the first file at fault."""
    folder = Path(folder)
    table = folder / "confidence.json"
    rows = tuple(read_confidence(table))
    if not rows:
        raise InputError(f"confidence table {table} lists no frames: there is nothing to review", table)
    results = ShotResults(folder, rows, tuple(manifest.keyframes(folder)))
    for index, name in results.names.items():
        _check_plate_frame(index, name, frames, table)
        _require_file(results.label_path(index), "label map", name)
    for row in rows:
        _require_file(results.matte_path(row.frame, row.object), f"matte of object {row.object}", row.name)
    first = results.label_path(rows[0].frame)
    _check_size(read_label_map(first), first, frames.size)  # plates of another size, before any picture
    return results


def read_layers(results: ShotResults, index: int, size: tuple[int, int]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Frame `index`'s label map and its mattes by object id, which must have the plates' `size` (width, height)."""
    path = results.label_path(index)
    labels = _check_size(read_label_map(path), path, size)
    mattes = {}
    for object_id in results.object_ids:
        path = results.matte_path(index, object_id)
        mattes[object_id] = _check_size(read_matte(path), path, size)
    return labels, mattes


def _check_plate_frame(index: int, name: str, frames: FrameSequence, table: Path) -> None:
    if index >= len(frames):
        raise InputError(f"confidence table {table} lists frame {index}, but the plates have {len(frames)}", table)
    if frames.names[index] != name:
        raise InputError(
            f"confidence table {table} names frame {index} {name!r}, the plates {frames.names[index]!r}: are these "
            "the plates the shot was propagated on?",
            table,
        )


def _require_file(path: Path, what: str, name: str) -> None:
    if not path.is_file():
        raise InputError(f"{what} {path} of frame {name} is missing: the shot's folder is incomplete", path)


def _check_size(image: np.ndarray, path: Path, size: tuple[int, int]) -> np.ndarray:
    height, width = image.shape[:2]
    if (width, height) != size:
        raise InputError(f"{path} is {width}x{height}, but the plates are {size[0]}x{size[1]}", path)
    return image
