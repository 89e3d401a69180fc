"""A shot folder says whether it is complete: `manifest.json`, written last by a finished run.

Files on disk alone cannot tell a finished shot from a damaged one (a 0-byte label map, a truncated matte) or
from the outputs of a different run (other masks, other options) that failed half-way over an older one. So a
run writes the manifest twice: first, before any frame, as "started" with the run's identity (its inputs and
options), which invalidates whatever the folder said before; last, once every output is written, as "complete"
with the size and SHA-256 of every output. A rerun then knows:

- complete, same identity, every output as recorded: the shot is finished (skipped, without the model);
- started, same identity: a run of this very job stopped part-way; its written frames are kept (resume);
- anything else (no manifest over existing outputs, another identity, an output that does not verify): the
  folder is started again from nothing, and the reason is said.

The identity fingerprints the frame files (name, size and modification time: hashing a plate of 10,000 EXRs
would take longer than some shots), the keyframe masks (their bytes), the checkpoint file and every option.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.io import OutputError, write_text_atomic
from engine.io.files import read_file_bytes

MANIFEST = "manifest.json"
FORMAT = "maskprop-shot"
VERSION = 1
# What a run writes into its folder, and nothing else: clearing a folder removes these and leaves other files.
FAILURE = "failure.txt"  # why the last run of the shot failed, for reports written by other processes
REVIEW = "review"  # the review pictures (`engine.review`), written after the manifest is complete
OUTPUT_NAMES = ("labels", "mattes", "confidence.csv", "confidence.json", "run.json", MANIFEST, FAILURE, REVIEW)
_CHUNK = 1 << 20

State = Literal["finished", "resume", "fresh"]


@dataclass(frozen=True)
class Verdict:
    state: State
    reason: str  # for people: why the shot is skipped, resumed or started again


def identity(
    frame_files: Iterable[str | os.PathLike[str]],
    masks: Mapping[int, str | os.PathLike[str]],
    checkpoint: str | os.PathLike[str] | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """What makes two runs of a shot the same run: a JSON-able mapping compared key by key."""
    fields = {
        "frames": _fingerprint(_stamp(path) for path in frame_files),
        "masks": {
            str(index): hashlib.sha256(read_file_bytes(path, "mask")).hexdigest() for index, path in masks.items()
        },
        "checkpoint": None if checkpoint is None else _stamp(checkpoint),
        "options": dict(options),
    }
    return json.loads(json.dumps(fields, sort_keys=True, default=str))  # as a manifest reads back: comparable


def verdict(folder: Path, wanted: Mapping[str, Any]) -> Verdict:
    """What a run of identity `wanted` should do with `folder` (see the module doc)."""
    recorded = _read(folder)
    if recorded is None:
        if holds_outputs(folder):
            return Verdict("fresh", f"{folder} holds results without a manifest (another run's, or damaged)")
        return Verdict("fresh", "nothing written yet")
    changed = [key for key in wanted if recorded.get("identity", {}).get(key) != wanted[key]]
    if changed:
        return Verdict("fresh", f"its {', '.join(changed)} changed since the results in {folder} were made")
    if not recorded.get("complete"):
        return Verdict("resume", "a run of this job stopped part-way: its written frames are kept")
    damaged = _first_damaged(folder, recorded.get("outputs", {}))
    if damaged is not None:
        return Verdict("fresh", damaged)
    return Verdict("finished", "already finished")


def recorded(folder: Path) -> Literal["started", "complete"] | None:
    """What the folder's manifest says of its last run, None where it has none; nothing is verified, so a report
    of a whole job can read every shot's state without reading every matte (`verdict` decides what a run does)."""
    document = _read(folder)
    if document is None:
        return None
    return "complete" if document.get("complete") else "started"


def begin(folder: Path, wanted: Mapping[str, Any]) -> None:
    """Record a run of identity `wanted` as started: from now on the folder is not complete, and no longer failed."""
    _write(folder, {"complete": False, "identity": dict(wanted)})
    forget_failure(folder)


def record_failure(folder: Path, message: str) -> None:
    """Say in `folder` why its shot failed, so that a report written by another process (the next farm task) shows
    it; best effort, since a folder that cannot be written is often why."""
    with contextlib.suppress(OutputError):
        write_text_atomic(folder / FAILURE, message.rstrip() + "\n")


def recorded_failure(folder: Path) -> str | None:
    """Why the shot's last run failed, None where it did not (or its folder cannot say)."""
    try:
        return (folder / FAILURE).read_text(errors="replace").strip()
    except OSError:
        return None


def forget_failure(folder: Path) -> None:
    (folder / FAILURE).unlink(missing_ok=True)


def finish(folder: Path, wanted: Mapping[str, Any], outputs: Iterable[Path]) -> Path:
    """Record the run as complete, with every output's size and SHA-256: the last thing a run writes."""
    listed = {path.relative_to(folder).as_posix(): _checksum(path) for path in sorted(outputs)}
    return _write(folder, {"complete": True, "identity": dict(wanted), "outputs": listed})


def keyframes(folder: Path) -> list[int]:
    """The frame indices whose masks were given to the run recorded in `folder` (none without a manifest): the
    frames a review marks as drawn rather than propagated."""
    masks = (_read(folder) or {}).get("identity", {}).get("masks", {})
    return sorted(int(index) for index in masks if str(index).isdigit()) if isinstance(masks, dict) else []


def holds_outputs(folder: Path) -> bool:
    """Whether `folder` holds anything a run writes."""
    return any((folder / name).exists() for name in OUTPUT_NAMES)


def clear(folder: Path) -> None:
    """Remove what a run wrote into `folder`, the manifest first (so a clear cut short is not "complete"); files
    of other names are left alone."""
    for name in (MANIFEST, *OUTPUT_NAMES):
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _stamp(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    status = os.stat(path)
    return os.fspath(path), status.st_size, status.st_mtime_ns


def _fingerprint(stamps: Iterable[tuple[str, int, int]]) -> str:
    digest = hashlib.sha256()
    for stamp in stamps:
        digest.update(json.dumps(stamp).encode() + b"\n")
    return digest.hexdigest()


def _checksum(path: Path) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def _first_damaged(folder: Path, outputs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the first recorded output that does not verify fails (missing, another size, other bytes); else None."""
    for name, recorded in outputs.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != recorded.get("size"):
            return f"{path} has {path.stat().st_size} bytes, the finished run wrote {recorded.get('size')}"
        if _checksum(path)["sha256"] != recorded.get("sha256"):
            return f"{path} is not the file the finished run wrote (its checksum differs)"
    return None


def _read(folder: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    return document


def _write(folder: Path, fields: Mapping[str, Any]) -> Path:
    document = {"format": FORMAT, "version": VERSION, **fields}
    return write_text_atomic(folder / MANIFEST, json.dumps(document, indent=1, sort_keys=True) + "\n")
