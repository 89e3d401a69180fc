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
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.checkpoint_choice import resolve_checkpoint
from engine.exit_codes import BAD_INPUT, OK, exit_code_of
from engine.io import InputError
from engine.progress import Progress, outer_bar
from engine.shots import manifest
from engine.shots.job_file import JobFile, JobShot
from engine.shots.manifest import Verdict
from engine.shots.shot import Existing, PreparedShot, ShotSummary, frames_reached, prepare_shot
from engine.shots.stop_request import StopRequest

if TYPE_CHECKING:
    from engine.choices import Precision

HELLO_TIMEOUT = 10.0  # seconds for the worker's engine to answer: it answers at once, even while it computes

# Propagates one prepared shot of the job and writes it, calling `on_frame(done, total)` after each frame.
ShotRunner = Callable[[JobShot, PreparedShot, Callable[[int, int], None]], ShotSummary]

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


@dataclass(frozen=True)
class BatchOptions:
    show_progress: bool = True  # False leaves out each shot's progress on stderr; stdout's farm lines stay
    engine: str = ""  # the folder of a worker's shared engine (`engine.shots.worker_engine`); "": load here
    review: bool = True  # write each finished shot's review pictures (`engine.review`)
    report: Path | None = None  # the report.html to write at the end, whatever the outcome; None: none


def run_job(job: JobFile, shots: Sequence[JobShot], stop: StopRequest, options: BatchOptions = BatchOptions()) -> int:
    """Propagate `shots` of `job`; returns the exit code: 0, 143/130 when stopped, or that of the failed shots.

    The network is loaded in this process once, before the first shot that needs it, or, with `options.engine`,
    not at all: the shots are sent to the worker's engine. A shot that fails (a corrupt frame, a full disk, a
    review that cannot be written) is reported on its own line, recorded in its folder and skipped; the shots
    after it still run, and the frames it wrote stay valid for a rerun to resume."""
    plans = check_shots(job, shots)
    lines = ProgressLines(sum(plan.frames for plan in plans), sys.stdout)
    todo = [plan for plan in plans if not plan.finished]
    for plan in plans:
        if plan.finished:
            lines.skipped(plan)
    lines.status(f"{len(todo)} of {len(plans)} shots to propagate")
    failures: dict[str, Failure] = {}
    reviewer = Reviewer(options.review)
    try:
        with outer_bar(lines.total, "job", options.show_progress, done=lines.done) as lines.bar:
            stopped = _run_plans(job, todo, stop, options, lines, reviewer, failures)
        if not stopped:
            for plan in plans:
                if plan.finished and reviewer.missing(plan.shot):
                    _catching(failures, plan.shot, lines, lambda shot=plan.shot: _review_finished(job, shot, reviewer))
    finally:
        if options.report is not None:
            _write_report(options.report, job, failures, lines)
    if stopped:
        lines.status("cancelled")
        return stop.exit_code
    return _outcome(failures, len(plans), lines)


def _run_plans(
    job: JobFile,
    todo: Sequence[ShotPlan],
    stop: StopRequest,
    options: BatchOptions,
    lines: ProgressLines,
    reviewer: Reviewer,
    failures: dict[str, Failure],
) -> bool:
    """Propagate each shot to do, one after another; True if stopped by a signal."""
    with contextlib.ExitStack() as cleanup:
        runner = None
        for plan in todo:
            if stop():
                return True
            if runner is None:
                runner = (
                    _shared(job, todo, options, stop, lines, cleanup)
                    if options.engine
                    else _local(job, todo, options, stop, lines)
                )
            if plan.verdict.reason != "nothing written yet":
                lines.status(f"shot {plan.shot.spec.name}: {plan.verdict.reason}")
            work = functools.partial(_propagate, runner, job, plan.shot, lines, reviewer)
            summary = _catching(failures, plan.shot, lines, work)
            if summary is not None and summary.stopped:
                return True
    return False


@dataclass(frozen=True)
class Failure:
    code: int  # the exit code the error alone would give (`engine.exit_codes`)
    message: str


def _catching(
    failures: dict[str, Failure], shot: JobShot, lines: ProgressLines, work: Callable[[], ShotSummary | None]
) -> ShotSummary | None:
    """`work()`, or None when it failed as a shot can fail (recorded, reported, the job going on); bugs propagate."""
    try:
        return work()
    except Exception as error:
        failures[shot.spec.name] = _failed(shot, error, lines)
        return None


def _failed(shot: JobShot, error: Exception, lines: ProgressLines) -> Failure:
    """Say and record why `shot` failed; an error no shot is expected to raise (a bug) is raised again."""
    code, name = exit_code_of(error), shot.spec.name
    if code is None:
        raise error
    message = str(error) if str(error).startswith(f"shot {name!r}") else f"shot {name!r}: {error}"
    log.error("%s", message)
    lines.status(f"shot {name} failed")
    manifest.record_failure(Path(shot.spec.out), message)
    return Failure(code, message)


def _outcome(failures: Mapping[str, Failure], shots: int, lines: ProgressLines) -> int:
    """OK, or the failed shots' common exit code (bad input when they differ: a retry cannot fix them all)."""
    if not failures:
        lines.status("done")
        return OK
    lines.status(f"{len(failures)} of {shots} shots failed: {', '.join(failures)}")
    codes = {failure.code for failure in failures.values()}
    return codes.pop() if len(codes) == 1 else BAD_INPUT


def _write_report(path: Path, job: JobFile, failures: Mapping[str, Failure], lines: ProgressLines) -> None:
    """report.html of the whole job as its folders now show it; a report that cannot be written is said, and
    leaves the shots' results and the exit code as they are."""
    from engine.review.batch_report import gather_rows, write_report

    try:
        rows = gather_rows(job, {name: failure.message for name, failure in failures.items()})
        write_report(path, rows, job.source.name)
    except (InputError, OSError) as error:
        log.error("the report %s could not be written: %s", path, error)
        return
    lines.status(f"report: {path}")


class Reviewer:
    """Writes finished shots' review pictures; without the review extra it says so once and writes none."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def missing(self, shot: JobShot) -> bool:
        """Whether a finished shot lacks its pictures (a run without the extra, or one whose review failed)."""
        from engine.review.shot_review import FOLDER, WORST

        return self.enabled and not (Path(shot.spec.out) / FOLDER / WORST).is_file()

    def review(self, prepared: PreparedShot) -> None:
        if not self.enabled:
            return
        from engine.review import MissingExtra, write_review

        try:
            write_review(prepared.spec.out, prepared.frames)
        except MissingExtra as error:
            log.warning("%s; the shots get no review pictures", error)
            self.enabled = False
        else:
            manifest.forget_failure(Path(prepared.spec.out))


def _review_finished(job: JobFile, shot: JobShot, reviewer: Reviewer) -> None:
    with _opened(job, shot, "keep") as prepared:
        reviewer.review(prepared)


def _local(
    job: JobFile, plans: Sequence[ShotPlan], options: BatchOptions, stop: StopRequest, lines: ProgressLines
) -> ShotRunner:
    """Shots propagated by a network loaded here, each in its own precision (any refusal raised before the load)."""
    from engine.model.loader import load_network
    from engine.propagation.settings import settings_from
    from engine.shots.shot import propagate_shot

    precisions = _precisions(job, plans)
    lines.status("loading the model")
    model = load_network(job.checkpoint, job.device, job.deterministic)

    def run(shot: JobShot, prepared: PreparedShot, on_frame: Callable[[int, int], None]) -> ShotSummary:
        settings = settings_from(shot.options, precisions[shot.spec.name])
        return propagate_shot(model, prepared, settings, stop, on_frame, options.show_progress)

    return run


def _shared(
    job: JobFile,
    plans: Sequence[ShotPlan],
    options: BatchOptions,
    stop: StopRequest,
    lines: ProgressLines,
    cleanup: contextlib.ExitStack,
) -> ShotRunner:
    """Shots sent to the worker's engine recorded in `options.engine`, which must run the job's network and
    precision."""
    from engine.shots.remote import engine_error, remote_record, remote_steps
    from engine.shots.shot import write_shot
    from engine.shots.worker_engine import read_worker_engine
    from protocol.client import EngineClient
    from protocol.errors import ProtocolError

    folder = options.engine
    engine = read_worker_engine(folder)
    checkpoint = resolve_checkpoint(job.checkpoint)
    if not os.path.samefile(checkpoint, engine.checkpoint):
        raise InputError(f"the engine in {folder} runs {engine.checkpoint}, and the job asks for {checkpoint}")
    for plan in plans:
        asked = (plan.shot.options["precision"], plan.shot.options["strict_precision"])
        if asked != (engine.precision, engine.strict_precision):
            raise InputError(
                f"shot {plan.shot.spec.name!r} asks for precision {asked[0]}, and the engine in {folder} computes "
                f"in {engine.precision}"
            )
    client = cleanup.enter_context(EngineClient(engine.endpoint, curve=engine.keys(), timeout=60.0))
    try:
        hello = client.hello(timeout=HELLO_TIMEOUT)
    except ProtocolError as error:
        raise engine_error(error, f"the engine in {folder} does not answer") from None
    lines.status(f"propagating on the worker's engine ({hello.model.name} on {hello.device}), no model to load")

    def run(shot: JobShot, prepared: PreparedShot, on_frame: Callable[[int, int], None]) -> ShotSummary:
        steps = remote_steps(client, prepared, shot.options, stop)
        record = functools.partial(remote_record, hello, engine.endpoint, shot.options, engine.precision)
        return write_shot(prepared, steps, record, stop, on_frame, options.show_progress)

    return run


def _precisions(job: JobFile, plans: Sequence[ShotPlan]) -> dict[str, Precision]:
    """Each shot's precision on the job's device, chosen (and any refusal raised) before the model loads."""
    from engine.compute.device import select_device
    from engine.compute.precision import choose_for_device

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
    runner: ShotRunner, job: JobFile, shot: JobShot, lines: ProgressLines, reviewer: Reviewer
) -> ShotSummary:
    name = shot.spec.name
    with _opened(job, shot, "resume") as prepared:
        summary = runner(shot, prepared, lambda done, total: lines.frame(name, done, total))
        log.info("%s: %s", name, summary.describe())
        if not summary.stopped:
            reviewer.review(prepared)
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


class ProgressLines:
    """The progress and status lines of Open Job Description's stdout protocol, counted over the whole job.

    On a terminal they would garble the progress bars, so there a person gets the status lines alone, written
    between the bars, and the job's bar (`bar`, once shown) counts the frames."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.interactive = stream.isatty()
        self.bar: Progress | None = None

    def status(self, text: str) -> None:
        line = f"openjd_status: {text}"
        if self.interactive and self.bar is not None:
            self.bar.note(line)
        else:
            print(line, file=self.stream, flush=True)

    def progress(self) -> None:
        if not self.interactive:
            print(f"openjd_progress: {100 * self.done / self.total:.1f}", file=self.stream, flush=True)

    def skipped(self, plan: ShotPlan) -> None:
        self.done += plan.frames
        self.status(f"shot {plan.shot.spec.name} already finished, skipped")
        self.progress()

    def frame(self, name: str, done: int, total: int) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.advance()
        if not self.interactive:
            self.progress()
            self.status(f"shot {name} frame {done}/{total}")
