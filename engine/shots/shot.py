"""One shot from files to files: check every input, propagate, write the outputs, summarise.

`prepare_shot` opens the frames, reads the keyframe masks and creates the output folder before any model
is loaded, so a bad path fails in a second with one clear line instead of after the weights are read.
`propagate_shot` then runs the propagator and writes each frame as soon as it is ready. The folder's
`manifest.json` (`engine.shots.manifest`) is marked started before the first frame and complete after the last file,
so a folder says whether it holds one whole run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

import engine
from engine.choices import MATTE_FORMATS, REVIEW_BELOW
from engine.io import FrameSequence, InputError, open_frames, read_mask
from engine.io.view import STANDARD, DisplayView
from engine.progress import Progress
from engine.propagation.frame_result import FrameResult
from engine.propagation.plan import Direction
from engine.shots import manifest
from engine.shots.output import ShotOutput

if TYPE_CHECKING:  # torch: loaded by the commands that run the network, not by a farm worker's thin client
    from engine.learning.adaptation import Adaptation, AdaptProgress
    from engine.model.afburr import AFBURR
    from engine.propagation.propagator import Settings


@dataclass(frozen=True)
class ShotSpec:
    """A shot as a user describes it: paths and choices, nothing opened yet."""

    frames: str
    masks: Mapping[int, str]  # keyframe index -> mask PNG
    out: str
    first: int | None = None  # default: the first frame
    last: int | None = None  # default: the last frame
    direction: Direction = "both"
    matte_format: str = "png16"
    name: str = ""
    view: DisplayView = STANDARD  # how float plates become display pixels
    exr_layer: str = ""  # the layer of multi-layer EXR plates; "": the image, else the Combined pass


# What to do with a folder that holds another run's results; "keep" only looks (a check that writes nothing).
Existing = Literal["refuse", "replace", "resume", "keep"]


@dataclass
class PreparedShot:
    spec: ShotSpec
    frames: FrameSequence
    keyframes: dict[int, np.ndarray]
    object_ids: tuple[int, ...]
    output: ShotOutput
    first: int
    last: int
    identity: dict[str, Any]  # what makes a run of this shot the same run (`engine.shots.manifest.identity`)
    verdict: manifest.Verdict  # what the output folder held: finished, resumable, or to start afresh


@dataclass
class ShotSummary:
    frames: int = 0
    seconds: float = 0.0
    low_confidence: list[int] = field(default_factory=list)  # frame indices below the review threshold
    lost: list[int] = field(default_factory=list)  # frame indices where an object was lost
    stopped: bool = False

    def describe(self) -> str:
        rate = self.frames / self.seconds if self.seconds else 0.0
        review = ", ".join(map(str, self.low_confidence[:20])) or "none"
        return (
            f"{'stopped after' if self.stopped else 'propagated'} {self.frames} frames in {self.seconds:.1f} s "
            f"({rate:.2f} frames/s); frames to review: {review}"
        )


def prepare_shot(
    spec: ShotSpec, request: Mapping[str, Any] | None = None, existing: Existing = "replace"
) -> PreparedShot:
    """Open and check everything the shot needs; raises `InputError` naming the first problem.

    `request` is what else the run depends on (options, checkpoint), for its identity. An output folder that
    holds another run's results is, by `existing`: "refuse"d (an `InputError` that says so), "replace"d whole,
    or "resume"d: a finished run of the same identity is left as it is, a stopped one keeps its frames, and
    anything else is replaced.
    """
    frames = open_frames(spec.frames, view=spec.view, layer=spec.exr_layer)
    if not spec.masks:
        raise InputError("no keyframe mask was given")
    keyframes = {}
    for index, path in sorted(spec.masks.items()):
        if not 0 <= index < len(frames):
            raise InputError(f"mask frame {index} is outside the shot's frames 0..{len(frames) - 1}", path)
        keyframes[index] = read_mask(path, size=frames.size)
    object_ids = tuple(sorted(set().union(*(np.unique(k[k > 0]).tolist() for k in keyframes.values()))))
    first = 0 if spec.first is None else spec.first
    last = len(frames) - 1 if spec.last is None else spec.last
    if not 0 <= first <= last < len(frames):
        raise InputError(f"frame range {first}..{last} is not inside the shot's frames 0..{len(frames) - 1}")
    if spec.matte_format not in MATTE_FORMATS:
        raise InputError(f"matte format {spec.matte_format!r} is not one of {', '.join(MATTE_FORMATS)}")
    identity = _identity(spec, frames, request or {})
    verdict = _claim_folder(Path(spec.out), identity, existing)
    depth = MATTE_FORMATS[spec.matte_format]
    output = ShotOutput(spec.out, frames.names, object_ids, depth, skip_existing=verdict.state == "resume")
    if existing != "keep":
        output.remove_temporary_files()  # a run killed while writing left them, whatever the folder held
    return PreparedShot(spec, frames, keyframes, object_ids, output, first, last, identity, verdict)


def _identity(spec: ShotSpec, frames: FrameSequence, request: Mapping[str, Any]) -> dict[str, Any]:
    choices = {
        "first": spec.first,
        "last": spec.last,
        "direction": spec.direction,
        "matte_format": spec.matte_format,
        "view": dataclasses.asdict(spec.view),
        "exr_layer": spec.exr_layer,
        **{key: value for key, value in request.items() if key != "checkpoint"},
    }
    files = getattr(frames, "files", [frames.path])
    return manifest.identity(files, spec.masks, request.get("checkpoint"), choices)


def _claim_folder(folder: Path, identity: Mapping[str, Any], existing: Existing) -> manifest.Verdict:
    """What the folder holds for this run, after clearing what must not stay (see `prepare_shot`)."""
    verdict = manifest.verdict(folder, identity) if folder.is_dir() else manifest.Verdict("fresh", "a new folder")
    taken = folder.is_dir() and manifest.holds_outputs(folder)
    if taken and existing == "refuse":
        raise InputError(
            f"{folder} holds the results of a run ({verdict.reason}); give --overwrite to replace them, or "
            "choose another output folder",
            folder,
        )
    if taken and (existing == "replace" or (existing == "resume" and verdict.state == "fresh")):
        manifest.clear(folder)
    return verdict


def propagate_shot(
    model: AFBURR,
    shot: PreparedShot,
    settings: Settings,
    should_stop: Callable[[], bool] = lambda: False,
    on_frame: Callable[[int, int], None] | None = None,
    show_progress: bool = True,
) -> ShotSummary:
    """Propagate with `model` in this process and write every frame (`write_shot`)."""
    from engine.propagation.propagator import Propagator

    adapting = _adaptation_progress(settings.adapt, shot.spec.name, show_progress) if settings.adapt else None
    propagator = Propagator(model, shot.frames, shot.object_ids, settings, on_adapt=adapting)
    steps = propagator.steps(shot.keyframes, shot.first, shot.last, shot.spec.direction)

    def record() -> dict[str, Any]:
        return {**run_record(model, settings), **adaptation_record(propagator.adaptation)}

    return write_shot(shot, steps, record, should_stop, on_frame, show_progress)


def _adaptation_progress(steps: int, name: str, shown: bool) -> Callable[[AdaptProgress], None]:
    """A bar (or lines, or JSON events) for the adaptation's steps, with the loss and the time left."""
    bar = Progress(steps, f"{name or 'shot'}: learning the keyframes", enabled=shown, unit="step")

    def advance(progress: AdaptProgress) -> None:
        detail = f"loss {progress.loss:.4f}, {progress.seconds_left:.0f} s left"
        bar.advance(detail, loss=round(progress.loss, 5), seconds_left=round(progress.seconds_left, 1))
        if progress.step == progress.steps:
            bar.close()

    return advance


def write_shot(
    shot: PreparedShot,
    steps: Iterable[Sequence[FrameResult]],
    record: Callable[[], dict[str, Any]],
    should_stop: Callable[[], bool] = lambda: False,
    on_frame: Callable[[int, int], None] | None = None,
    show_progress: bool = True,
) -> ShotSummary:
    """Write each frame of `steps` as it comes, then the run's `record()`, confidence table and manifest.

    `steps` yields after every network step, with the frames that became ready (none while a "both" pass is
    under way). `should_stop()` is asked after every step (SIGTERM in batch jobs) rather than every written
    frame, because a farm's grace period after SIGTERM can be shorter than a pass; a stopped shot's generator is
    closed, so a remote engine's propagate is cancelled. `on_frame(done, total)` is called after each written
    frame, for progress lines; `show_progress` False keeps stderr quiet (training's validation).
    """
    manifest.begin(shot.output.folder, shot.identity)  # before any frame: the folder is not complete from now
    total = len(frames_reached(shot))
    progress = Progress(total, shot.spec.name or "propagate", enabled=show_progress)
    summary, start = ShotSummary(), time.monotonic()
    ready_steps = iter(steps)
    try:
        for ready in ready_steps:
            for result in ready:
                _write_frame(shot, result, summary, progress)
                if on_frame is not None:
                    on_frame(summary.frames, total)
            if summary.frames < total and should_stop():
                summary.stopped = True
                break
    finally:
        getattr(ready_steps, "close", lambda: None)()
        progress.close()
    summary.low_confidence.sort()
    summary.lost.sort()
    summary.seconds = time.monotonic() - start
    if not summary.stopped:
        shot.output.write_run({**record(), "frames": summary.frames, "seconds": round(summary.seconds, 3)})
        shot.output.write_confidence()
        manifest.finish(shot.output.folder, shot.identity, shot.output.written())
    return summary


def _write_frame(shot: PreparedShot, result: FrameResult, summary: ShotSummary, progress: Progress) -> None:
    shot.output.write(result)
    summary.frames += 1
    if result.confidence < REVIEW_BELOW:
        summary.low_confidence.append(result.index)
    if any(obj.lost for obj in result.objects):
        summary.lost.append(result.index)
    name, confidence = shot.frames.names[result.index], result.confidence
    progress.advance(f"frame {name} confidence {confidence:.2f}", frame=name, confidence=round(confidence, 4))


def run_record(model: AFBURR, settings: Settings) -> dict[str, Any]:
    """How a shot is computed: the engine, the network, where and in what precision, the propagation settings."""
    from engine.propagation.propagator import effective_max_size, effective_memory_every

    return {
        "engine": engine.__version__,
        "model": model.config.name,
        "device": str(next(model.parameters()).device),
        "precision": settings.precision,
        "settings": {
            "max_size": effective_max_size(model, settings.max_size),
            "memory_every": effective_memory_every(model, settings.memory_every),
            "reader": settings.read.reader,
            "bank": dataclasses.asdict(settings.bank),
            "adapt": settings.adapt,
        },
    }


def adaptation_record(adaptation: Adaptation | None) -> dict[str, Any]:
    """What a run's adaptation did, for run.json: steps taken, first and last loss, time, and why it fell back."""
    if adaptation is None:
        return {}
    losses = [round(loss, 6) if math.isfinite(loss) else None for loss in (adaptation.first_loss, adaptation.last_loss)]
    return {
        "adaptation": {
            "steps": adaptation.steps,
            "first_loss": losses[0],
            "last_loss": losses[1],
            "seconds": round(adaptation.seconds, 3),
            "fallback": adaptation.fallback,
        }
    }


def frames_reached(shot: PreparedShot) -> list[int]:
    """The frame indices the shot writes: what its keyframes and direction reach within `first..last`."""
    from engine.propagation.plan import plan

    segments = plan(list(shot.keyframes), shot.first, shot.last, shot.spec.direction)
    computed = {i for s in segments for i in s.outputs}
    return sorted(computed | {k for k in shot.keyframes if shot.first <= k <= shot.last})
