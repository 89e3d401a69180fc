"""The folders a farm moves for a job, checked against the job: every plate and mask inside the input folder,
every output folder inside the output folder.

A farm that moves data (Deadline Cloud's job attachments) uploads what a template declares as input
(`dataFlow: IN`) and brings back what it declares as output (`OUT`); the job file's own paths are invisible to
it. A shot whose plate lies outside the declared input folder would find nothing on the worker, and one whose
output lies outside the output folder would be computed and lost, so both fail the job before any task runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from engine.io import InputError
from engine.shots.job_file import JobShot


def check_data_flow(shots: tuple[JobShot, ...], inputs: str = "", outputs: str = "") -> None:
    """Raise `InputError` naming the first shot with a path outside `inputs` or `outputs` (each "" checks nothing)."""
    for shot in shots:
        if inputs:
            for what, path in _inputs(shot):
                _require_inside(shot, what, path, inputs, "input")
        if outputs:
            _require_inside(shot, "output folder", shot.spec.out, outputs, "output")


def _inputs(shot: JobShot) -> Iterator[tuple[str, str]]:
    yield "plate", shot.spec.frames
    for index, mask in sorted(shot.spec.masks.items()):
        yield f"mask of frame {index}", mask


def _require_inside(shot: JobShot, what: str, path: str, folder: str, role: str) -> None:
    if not Path(path).resolve().is_relative_to(Path(folder).resolve()):
        raise InputError(
            f"shot {shot.spec.name!r}: its {what} {path} is outside the job's {role} folder {folder}, so a farm "
            f"that moves the job's data would not {'bring it to' if role == 'input' else 'bring it back from'} "
            "the worker; move it inside, or give the folder that holds it",
            path,
        )
