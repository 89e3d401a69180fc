"""Where a shot's results go on disk, and writing them there.

    OUT/labels/<frame name>.png          palette PNG label map of object ids
    OUT/mattes/obj<id>/<frame name>.png  soft matte per object (8/16-bit PNG) or .exr (half float)
    OUT/confidence.csv, .json            frame, object, confidence, lost, area
    OUT/run.json                         how the last finished run computed: engine, network, device, precision

Every file is written atomically, so a killed job leaves each frame either complete or absent, and a rerun of
the same run (`engine.shots.manifest` says when it is one) that skips frames whose files all exist (`skip_existing`)
resumes where it stopped with the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.choices import MatteDepth
from engine.io import (
    ConfidenceRow,
    ensure_output_folder,
    write_confidence,
    write_label_map,
    write_matte,
    write_text_atomic,
)
from engine.io.mattes import MATTE_SUFFIXES
from engine.propagation.frame_result import FrameResult
from engine.shots.manifest import REVIEW
from protocol.atomic import is_temp_name

CONFIDENCE_SUFFIXES = ("csv", "json")  # json last: its presence means the table is complete


def label_path(folder: Path, name: str) -> Path:
    """Where the label map of the frame called `name` lives in the output `folder`."""
    return folder / "labels" / f"{name}.png"


def matte_folder(folder: Path, object_id: int) -> Path:
    """The folder of one object's mattes in the output `folder`."""
    return folder / "mattes" / f"obj{object_id}"


class ShotOutput:
    """The output folder of one shot: its layout, which frames are finished, and the confidence table."""

    def __init__(
        self,
        folder: str | Path,
        names: Sequence[str],
        object_ids: Sequence[int],
        matte_depth: MatteDepth = "16",
        skip_existing: bool = False,
    ) -> None:
        self.folder = ensure_output_folder(folder)
        self.names = list(names)
        self.object_ids = tuple(object_ids)
        self.matte_depth = matte_depth
        self.skip_existing = skip_existing
        self.rows: dict[int, list[ConfidenceRow]] = {}
        for directory in (self.folder / "labels", *(matte_folder(self.folder, i) for i in self.object_ids)):
            ensure_output_folder(directory)

    def label_path(self, index: int) -> Path:
        return label_path(self.folder, self.names[index])

    def matte_path(self, index: int, object_id: int) -> Path:
        return matte_folder(self.folder, object_id) / f"{self.names[index]}{MATTE_SUFFIXES[self.matte_depth]}"

    def is_finished(self, index: int) -> bool:
        return all(path.is_file() for path in self._frame_paths(index))

    def _frame_paths(self, index: int) -> list[Path]:
        return [self.label_path(index), *(self.matte_path(index, i) for i in self.object_ids)]

    def write(self, result: FrameResult) -> None:
        """Write one frame's files (unless already there and skipping) and remember its confidence rows."""
        if not (self.skip_existing and self.is_finished(result.index)):
            for object_id, matte in zip(result.object_ids, result.mattes, strict=True):
                write_matte(self.matte_path(result.index, object_id), matte, self.matte_depth)
            write_label_map(self.label_path(result.index), result.labels)  # last: its presence means "done"
        name = self.names[result.index]
        self.rows[result.index] = [
            ConfidenceRow(result.index, name, obj.id, obj.confidence, obj.lost, obj.area) for obj in result.objects
        ]

    def remove_temporary_files(self) -> list[Path]:
        """Delete the temporary files a killed run left behind; returns them.

        Only for a folder no other process is writing to: a live writer's temporary file would go too.
        """
        folders = (self.folder, self.folder / "labels", *(matte_folder(self.folder, i) for i in self.object_ids))
        folders += tuple(p for p in (self.folder / REVIEW,) if p.is_dir())
        leftovers = [p for folder in folders for p in folder.iterdir() if is_temp_name(p.name)]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def written(self) -> list[Path]:
        """Every file of the frames recorded so far, the confidence table and the run record: what a finished
        run's manifest lists."""
        frames = [path for index in self.rows for path in self._frame_paths(index)]
        tables = [self.folder / f"confidence.{suffix}" for suffix in CONFIDENCE_SUFFIXES]
        return [*frames, *tables, self.folder / "run.json"]

    def write_confidence(self) -> list[Path]:
        rows = [row for index in sorted(self.rows) for row in self.rows[index]]
        return [write_confidence(self.folder / f"confidence.{suffix}", rows) for suffix in CONFIDENCE_SUFFIXES]

    def write_run(self, record: Mapping[str, Any]) -> Path:
        """Record how the results were computed (what a reviewer asks when two runs differ)."""
        document = {"format": "maskprop-run", "version": 1, **record}
        return write_text_atomic(self.folder / "run.json", json.dumps(document, indent=2) + "\n")
