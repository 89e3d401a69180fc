"""The run's CSV logs (loss per logged step, validation per validation), kept consistent across restarts.

A run resumed from step s drops the rows after s that an interrupted run had already written, so the log
of a resumed run reads exactly like that of an uninterrupted one. That rewrite is atomic: a run killed while
resuming leaves the old log whole, never a truncated one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.io.atomic import write_text_atomic


class CsvLog:
    """Appends one row per call; each row is flushed at once, so a killed run loses nothing it logged."""

    def __init__(self, path: Path, columns: Sequence[str], resume_after: int | None = None) -> None:
        self.path, self.columns = path, list(columns)
        kept = _rows_up_to(path, resume_after) if resume_after is not None and path.is_file() else []
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        write_text_atomic(path, text.getvalue())

    def write(self, row: Mapping[str, Any]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as file:
            csv.DictWriter(file, self.columns, extrasaction="ignore").writerow(row)


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _rows_up_to(path: Path, step: int) -> list[dict[str, str]]:
    return [row for row in read_log(path) if int(row["step"]) <= step]
