"""Running a job: check every selected shot, load the model once, then propagate the shots one after another.

What a farm sees (docs/farm.md):

- Every shot's frames, keyframe masks and output folder are checked before the model loads, so a bad shot
  fails the job in seconds instead of after the shots before it have run.
- A shot whose folder's manifest says a run of this very job finished, and whose outputs all verify, is skipped
  without the model. One that a run of this job left part-way is propagated again from its keyframes (the
  feature memory needs every frame) but its finished frames are not rewritten. Any other folder (other masks,
  options or frames, a damaged output, results without a manifest) is cleared and propagated afresh, and the
  status line says why. Outputs are written atomically, so after a kill each frame is complete or absent.
- `openjd_progress: <percent>` and `openjd_status: <text>` lines go to stdout, flushed, as Open Job
  Description defines them; Deadline, OpenCue and Flamenco logs show them as they are.
- SIGTERM (a farm's cancel) or SIGINT stops the job after the current network step, with every finished frame
  written; the exit code is then 143 or 130.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from engine.compute.device import select_device
from engine.compute.precision import Precision, choose_for_device
from engine.exit_codes import OK
from engine.io import InputError
from engine.model.afburr import AFBURR
from engine.model.loader import load_network
from engine.model.weights import resolve_checkpoint
from engine.propagation.settings import settings_from
from engine.shots.job_file import JobFile, JobShot
from engine.shots.manifest import Verdict
from engine.shots.shot import Existing, PreparedShot, ShotSummary, frames_reached, prepare_shot, propagate_shot
from engine.shots.stop_request import StopRequest

log = logging.getLogger("engine.batch")


@dataclass(frozen=True)
class ShotPlan:
    shot: JobShot
    frames: int  # how many frames the shot writes
    verdict: Verdict  # what its folder holds: this job's finished run, a stopped one, or nothing of it

    @property
    def finished(self) -> bool:
        return self.verdict.state == "finished"


def check_shots(job: JobFile, shots: Sequence[JobShot]) -> list[ShotPlan]:
    """Open every shot's frames, masks and output folder (raising the first problem) and see what is done;
    nothing is cleared or written but the output folders."""
    plans = []
    for shot in shots:
        with _opened(job, shot, "keep") as prepared:
            plans.append(ShotPlan(shot, len(frames_reached(prepared)), prepared.verdict))
    return plans


def run_job(job: JobFile, shots: Sequence[JobShot], stop: StopRequest, show_progress: bool = True) -> int:
    """Propagate `shots` of `job` with one model; returns the exit code (0, or 143/130 when stopped).

    `show_progress` False leaves out each shot's progress bar or lines on stderr; the job's progress lines on
    stdout stay, since the farm manager reads them."""
    plans = check_shots(job, shots)
    report = Report(sum(plan.frames for plan in plans), sys.stdout)
    todo = [plan for plan in plans if not plan.finished]
    for plan in plans:
        if plan.finished:
            report.skipped(plan)
    report.status(f"{len(todo)} of {len(plans)} shots to propagate")
    model = None
    for plan in todo:
        if stop():
            break
        if model is None:
            precisions = _precisions(job, todo)
            report.status("loading the model")
            model = load_network(job.checkpoint, job.device, job.deterministic)
        if plan.verdict.reason != "nothing written yet":
            report.status(f"shot {plan.shot.spec.name}: {plan.verdict.reason}")
        if _propagate(model, job, plan.shot, precisions[plan.shot.spec.name], stop, report, show_progress).stopped:
            break
    else:
        report.status("done")
        return OK
    report.status("cancelled")
    return stop.exit_code


def _precisions(job: JobFile, plans: Sequence[ShotPlan]) -> dict[str, Precision]:
    """Each shot's precision on the job's device, chosen (and any refusal raised) before the model loads."""
    device = select_device(job.device)
    chosen: dict[tuple[str, bool], Precision] = {}
    precisions = {}
    for plan in plans:
        request = (plan.shot.options["precision"], plan.shot.options["strict_precision"])
        if request not in chosen:
            chosen[request] = choose_for_device(*request, device).precision
        precisions[plan.shot.spec.name] = chosen[request]
    return precisions


def _propagate(
    model: AFBURR,
    job: JobFile,
    shot: JobShot,
    precision: Precision,
    stop: StopRequest,
    report: Report,
    show_progress: bool,
) -> ShotSummary:
    name = shot.spec.name
    with _opened(job, shot, "resume") as prepared:
        prepared.output.remove_temporary_files()  # from a run killed while writing
        summary = propagate_shot(
            model,
            prepared,
            settings_from(shot.options, precision),
            should_stop=stop,
            on_frame=lambda done, total: report.frame(name, done, total),
            show_progress=show_progress,
        )
    log.info("%s: %s", name, summary.describe())
    return summary


@contextlib.contextmanager
def _opened(job: JobFile, shot: JobShot, existing: Existing) -> Iterator[PreparedShot]:
    """The shot prepared (see `prepare_shot` for `existing`), closed afterwards; its input errors name the shot."""
    request = {**shot.options, "checkpoint": str(resolve_checkpoint(job.checkpoint))}
    try:
        prepared = prepare_shot(shot.spec, request, existing)
        try:
            yield prepared
        finally:
            prepared.frames.close()
    except InputError as error:
        raise type(error)(f"shot {shot.spec.name!r}: {error}", error.path) from error


class Report:
    """The progress and status lines of Open Job Description's stdout protocol, counted over the whole job."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream

    def status(self, text: str) -> None:
        print(f"openjd_status: {text}", file=self.stream, flush=True)

    def progress(self) -> None:
        print(f"openjd_progress: {100 * self.done / self.total:.1f}", file=self.stream, flush=True)

    def skipped(self, plan: ShotPlan) -> None:
        self.done += plan.frames
        self.status(f"shot {plan.shot.spec.name} already finished, skipped")
        self.progress()

    def frame(self, name: str, done: int, total: int) -> None:
        self.done += 1
        self.progress()
        self.status(f"shot {name} frame {done}/{total}")
