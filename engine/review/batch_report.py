"""`report.html`: one page that tells a supervisor which shots of a job to look at first.

Everything it shows is read from the shots' folders (their manifest, confidence table, run record and review
files), never from a running batch, so any process can rebuild the report of a whole job at any time: the last
task of a farm job, or `maskprop report JOBFILE` on a workstation. Only failures are not on disk; the caller
that saw them passes them in.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.choices import REVIEW_BELOW
from engine.io import InputError, read_confidence, write_text_atomic
from engine.io.files import read_file_bytes
from engine.review.report_html import EMBED_LIMIT, cell, header, link, page, png_image
from engine.review.shot_review import CONFIDENCE_PLOT, CONTACT_SHEET, FOLDER, PREVIEW, WORST
from engine.shots import manifest
from engine.shots.job_file import JobFile
from protocol.confidence_table import ConfidenceRow, frame_confidences

Status = Literal["failed", "stopped", "not started", "finished"]
STATUSES: tuple[Status, ...] = ("failed", "stopped", "not started", "finished")  # most urgent first
# A shot's review files, in OUT/review/, by the name the report links them under.
REVIEW_FILES = {"sheet": CONTACT_SHEET, "plot": CONFIDENCE_PLOT, "movie": PREVIEW}
SHOWN_NAMES = 5  # frames to review named in the cell; the tooltip names more
TOOLTIP_NAMES = 100


@dataclass(frozen=True)
class ShotRow:
    """A shot as its folder shows it. Numbers are None where the folder cannot tell (no confidence table yet)."""

    name: str
    folder: Path
    status: Status
    message: str = ""  # why it failed, or why its confidence table could not be read
    frames: int = 0  # frames written
    objects: int = 0
    seconds: float | None = None
    lowest: float | None = None  # the lowest frame confidence; a frame's is its least confident object's
    lowest_frame: str = ""
    to_review: tuple[str, ...] | None = None  # names of the frames below REVIEW_BELOW
    review: Mapping[str, Path] = field(default_factory=dict)  # the review files present, by REVIEW_FILES' keys
    worst: Path | None = None  # OUT/review/worst.png, when present


def gather_rows(job: JobFile, failures: Mapping[str, str] | None = None) -> list[ShotRow]:
    """One row per shot of `job`, in the job's order; `failures` maps the shots that failed in this run to why,
    and a shot whose folder records a failure of an earlier run (another farm task's) shows that one."""
    failures = failures or {}
    rows = []
    for shot in job.shots:
        folder = Path(shot.spec.out)
        rows.append(_row(shot.spec.name, folder, failures.get(shot.spec.name) or manifest.recorded_failure(folder)))
    return rows


def _row(name: str, folder: Path, failure: str | None) -> ShotRow:
    table, problem = _confidence(folder)
    frames = _frame_confidences(table)
    lowest = min(frames.items(), key=lambda item: item[1], default=None)
    review = folder / FOLDER
    return ShotRow(
        name=name,
        folder=folder,
        status="failed" if failure is not None else _status(folder),
        message=failure or problem,
        frames=len(frames) if table is not None else _count(folder / "labels", "*.png"),
        objects=len({row.object for row in table}) if table is not None else _count(folder / "mattes", "obj*"),
        seconds=_seconds(folder),
        lowest=None if lowest is None else lowest[1],
        lowest_frame="" if lowest is None else lowest[0],
        to_review=None if table is None else tuple(n for n, value in frames.items() if value < REVIEW_BELOW),
        review={key: review / file for key, file in REVIEW_FILES.items() if (review / file).is_file()},
        worst=review / WORST if (review / WORST).is_file() else None,
    )


def _status(folder: Path) -> Status:
    state = manifest.recorded(folder)
    if state is None:
        return "not started"
    return "finished" if state == "complete" else "stopped"


def _confidence(folder: Path) -> tuple[list[ConfidenceRow] | None, str]:
    """The shot's confidence table (None until a run finished it), and why it could not be read."""
    path = folder / "confidence.json"
    if not path.is_file():
        return None, ""
    try:
        return read_confidence(path), ""
    except InputError as error:
        return None, str(error)


def _frame_confidences(table: Sequence[ConfidenceRow] | None) -> dict[str, float]:
    """Each frame's confidence by name, in frame order (`frame_confidences`, the engine's rule for a frame)."""
    names = {row.frame: row.name for row in table or ()}
    return {names[frame]: confidence for frame, confidence in frame_confidences(table or ()).items()}


def _count(folder: Path, pattern: str) -> int:
    """Files or folders in `folder` matching `pattern`, without the hidden temporary files of a killed write."""
    return sum(1 for path in folder.glob(pattern) if not path.name.startswith(".")) if folder.is_dir() else 0


def _seconds(folder: Path) -> float | None:
    """How long the finished run took, where its run record says."""
    try:
        seconds = json.loads(read_file_bytes(folder / "run.json", "run record")).get("seconds")
    except (InputError, ValueError, AttributeError):
        return None
    return float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None


def render_report(rows: Sequence[ShotRow], title: str, folder: Path) -> str:
    """The report as one HTML page, for a file in `folder` (links are relative to it). The least confident shot
    comes first, shots without a confidence table last, since the first thing to do is look at the worst."""
    ordered = sorted(rows, key=lambda row: (row.lowest is None, row.lowest or 0.0))
    heads = [
        header("Shot", "text"),
        header("Status", "number"),
        header("Frames", "number"),
        header("Objects", "number"),
        header("Time", "number"),
        header("Lowest confidence", "number", "ascending"),
        header("To review", "number"),
        header("Worst frame", "number"),
        header("Review files", "number"),
    ]
    return page(title, summary(rows), "".join(heads), [_table_row(row, folder) for row in ordered])


def summary(rows: Sequence[ShotRow]) -> str:
    """The line above the table: what a supervisor reads first."""
    counts = ", ".join(
        f"{sum(row.status == s for row in rows)} {s}" for s in ("finished", "failed", "stopped", "not started")
    )
    review = sum(len(row.to_review or ()) for row in rows)
    return f"{len(rows)} shots: {counts}; {review} frames to review (confidence below {REVIEW_BELOW})"


def _table_row(row: ShotRow, folder: Path) -> str:
    cells = [
        cell(html.escape(row.name), row.name, tag="th"),
        _status_cell(row),
        cell(str(row.frames), row.frames, "number"),
        cell(str(row.objects), row.objects, "number"),
        cell("" if row.seconds is None else duration(row.seconds), row.seconds, "number"),
        _lowest_cell(row),
        _review_cell(row.to_review),
        _worst_cell(row, folder),
        _files_cell(row, folder),
    ]
    return f'<tr data-shot="{html.escape(row.name)}">' + "".join(cells) + "</tr>"


def _status_cell(row: ShotRow) -> str:
    badge = f'<span class="badge {row.status.replace(" ", "-")}">{row.status}</span>'
    note = f'<span class="note">{html.escape(row.message)}</span>' if row.message else ""
    return cell(badge + note, STATUSES.index(row.status))


def _lowest_cell(row: ShotRow) -> str:
    if row.lowest is None:
        return cell("", None, "number")
    low = ' class="low"' if row.lowest < REVIEW_BELOW else ""
    markup = f"<span{low}>{row.lowest:.2f}</span><small>frame {html.escape(row.lowest_frame)}</small>"
    return cell(markup, row.lowest, "number")


def _review_cell(names: tuple[str, ...] | None) -> str:
    if names is None:
        return cell("", None, "number")
    if not names:
        return cell("0", 0, "number")
    listed = ", ".join(names[:TOOLTIP_NAMES]) + (", ..." if len(names) > TOOLTIP_NAMES else "")
    shown = ", ".join(names[:SHOWN_NAMES]) + (", ..." if len(names) > SHOWN_NAMES else "")
    markup = f'{len(names)}<small title="{html.escape(listed)}">{html.escape(shown)}</small>'
    return cell(markup, len(names), "number")


def _worst_cell(row: ShotRow, folder: Path) -> str:
    """The worst frame's picture, embedded when small enough, else linked; sorted as its confidence."""
    if row.worst is None:
        return cell('<span class="absent">none</span>', None)
    if row.worst.stat().st_size > EMBED_LIMIT:
        return cell(link(row.worst, folder, "worst frame"), row.lowest)
    return cell(png_image(read_file_bytes(row.worst, "picture"), f"worst frame of {row.name}"), row.lowest)


def _files_cell(row: ShotRow, folder: Path) -> str:
    """Links to the review files present, the absent ones named greyed out; sorted by how many are present."""
    parts = [
        link(row.review[key], folder, key) if key in row.review else f'<span class="absent">no {key}</span>'
        for key in REVIEW_FILES
    ]
    return cell(" &middot; ".join(parts), len(row.review), "files")


def duration(seconds: float) -> str:
    """Seconds as a person reads a run's time: "12.3 s", "4 min 05 s", "2 h 07 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def write_report(path: Path, rows: Sequence[ShotRow], title: str) -> Path:
    """Write the report atomically (a reader never sees half a page); returns its path."""
    return write_text_atomic(path, render_report(rows, title, path.parent))
