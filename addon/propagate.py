"""The work behind the Propagate button: start a run from the panel's settings, step it from the timer, and
import its results once it is done.

Operators only call these functions, and the tests call them directly, since timers and modal handlers do not
run in the `bpy` module. The run's inputs come from `run_inputs`, its results go through `result_sink`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import bpy

from . import colour
from .core import result_cache
from .core.session import Engine, PropagationRun, RunFailed, RunProgress, RunSettings
from .panel_settings import object_enabled
from .result_sink import ResultSink
from .run_inputs import cache_folder, is_scene_linear, keyframe_labels, shot_from_clip


@dataclass
class StartedRun:
    """A started run and where its results go; the modal operator keeps one between timer ticks."""

    run: PropagationRun
    sink: ResultSink
    streamed: bool = False  # whether Blender sends the frames' pixels (else the engine reads the files)
    progress: RunProgress = field(default_factory=lambda: RunProgress(0, 0, "running", "Waiting for the engine"))
    # What to start instead if the engine refuses to read the frames' files (`start_run`'s automatic mode).
    streamed_instead: Callable[[], StartedRun] | None = None


UNREADABLE = ("forbidden", "not_found")  # the engine's answers to files outside its roots or not on its disk


def start_run(
    scene: bpy.types.Scene,
    clip: bpy.types.MovieClip,
    mask: bpy.types.Mask,
    engine: Engine,
    stream: bool | None,
    wait: bool = True,
) -> StartedRun:
    """Start propagating `mask` at the current frame over the panel's range; raises ValueError or RunFailed.

    `stream` None sends the frames as paths when the engine can read them and streams their pixels when it
    answers that it cannot (an engine on another machine, or one not allowed the clip's folder); a movie can
    only go as a path. Nothing in the scene or among the earlier results changes until the run is done and
    `step` merges and imports it, so a failed or cancelled run leaves both as they were.

    With `wait` False (the panel's way) nothing here waits for the engine: the run opens on a worker thread,
    `step` reports "connecting" meanwhile, and a failure to open (RunFailed) comes as a failed `step` instead.
    """

    def start(streamed: bool) -> StartedRun:
        return _start(scene, clip, mask, engine, streamed, wait)

    if stream is not None:
        return start(stream)
    fallback = None if clip.source == "MOVIE" else (lambda: start(True))
    try:
        job = start(False)
    except RunFailed as failure:
        if failure.code not in UNREADABLE or fallback is None:
            raise
        return fallback()
    job.streamed_instead = fallback
    return job


def _start(
    scene: bpy.types.Scene, clip: bpy.types.MovieClip, mask: bpy.types.Mask, engine: Engine, stream: bool, wait: bool
) -> StartedRun:
    settings = scene.maskprop
    shot = shot_from_clip(clip, stream, settings.exr_layer.strip())
    keyframe = scene.frame_current
    key_index = keyframe - clip.frame_start
    if not 0 <= key_index < shot.frame_count:
        raise ValueError(f"Frame {keyframe} is outside the clip (frames {clip.frame_start}-{_clip_end(clip)})")
    labels, objects = keyframe_labels(
        mask, scene, keyframe, shot.width, shot.height, lambda name: object_enabled(settings, name)
    )
    if not objects:
        raise ValueError(f"The mask {mask.name!r} has no enabled layers to propagate")
    first, last = (
        (0, shot.frame_count - 1)
        if settings.use_clip_range
        else (max(settings.first - clip.frame_start, 0), min(settings.last - clip.frame_start, shot.frame_count - 1))
    )
    if not first <= key_index <= last:
        raise ValueError(f"The keyframe {keyframe} must lie inside the range to propagate")
    shot = replace(shot, objects=objects, view=colour.scene_view(scene) if is_scene_linear(clip) else {})
    folder = cache_folder(clip)
    result_cache.check_mergeable(folder, shot.width, shot.height)
    result_cache.discard_staged(folder)  # what a crashed run may have left
    sink = ResultSink(folder, scene, mask, clip.frame_start, (shot.width, shot.height))
    max_size = None if settings.use_network_size else settings.max_size
    adapt = settings.learn_steps if settings.learn_shot else 0
    options = RunSettings(first, last, settings.direction, settings.reader, max_size, contours=True, adapt=adapt)
    run = PropagationRun(engine, shot, {key_index: labels}, options, sink)
    if wait:
        run.start()
    else:
        run.begin()
    return StartedRun(run, sink, streamed=stream, progress=run.poll())


def _clip_end(clip: bpy.types.MovieClip) -> int:
    return clip.frame_start + clip.frame_duration - 1


def step(job: StartedRun) -> RunProgress:
    """One timer tick: store what arrived; once the run is done, close it and import its results.

    A cancelled or failed run is closed and its mattes dropped without importing, so neither the scene nor
    the cache folder ever holds half a run.
    """
    progress = job.progress = job.run.poll()
    failure = job.run.failure
    if failure is not None and failure.code in UNREADABLE and job.streamed_instead is not None:
        job.run.close()
        job.sink.discard()
        instead = job.streamed_instead()  # the engine cannot read the files: send their pixels
        job.run, job.sink, job.streamed, job.streamed_instead = instead.run, instead.sink, True, None
        progress = job.progress = instead.progress
        return progress
    if progress.finished:
        job.run.close()
        if progress.status == "done":
            job.sink.finish(job.sink.scene.maskprop.threshold)
        else:
            job.sink.discard()
    return progress
