"""A shot computed by an engine this process talks to over the wire, and written here as a local run writes it.

A farm task that sends its shot to its worker's shared engine (`engine.shots.worker_engine`) keeps every
guarantee of `batch`: the same checks, manifest, resume and atomic files, because only the network's steps come
from elsewhere. The engine reads the plate from the shared disk (a `files` source), the task sends the keyframe
masks it read, and the results come back as the mattes `write_shot` writes: 16-bit for PNG16 and EXR mattes,
8-bit for PNG8, each quantised by the engine exactly as a local run's writer quantises, so PNG outputs are
byte-identical to a local run's (EXR mattes pass through 16 bits, within 1/65535 of a local run's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.choices import VIEW_DEFAULTS
from engine.errors import EngineError, EngineUnavailable, OutOfMemory
from engine.propagation.frame_result import FrameResult, ObjectState
from engine.shots.shot import PreparedShot
from protocol import messages as m
from protocol.client import EngineClient
from protocol.errors import RETRYABLE, ErrorCode, ProtocolError

WIRE_OPTIONS = tuple(field.name for field in dataclasses.fields(m.PropagateOptions))


def remote_steps(
    client: EngineClient, shot: PreparedShot, options: Mapping[str, Any], should_stop: Callable[[], bool]
) -> Iterator[list[FrameResult]]:
    """The shot's results from the engine, as `Propagator.steps` yields them; also yields (nothing) when
    `should_stop()` turns true, so the writer can stop. Closing the generator cancels the engine's propagate."""
    session = client.open_session(_session_request(shot)).session
    try:
        for index, labels in shot.keyframes.items():
            client.keyframe(session, m.Keyframe(frame=index, labels=labels))
        job = client.propagate(session, _propagate_request(shot, options))
        try:
            while not job.done:
                client.wait_until(lambda: job.has_results or job.done or should_stop())
                yield [_frame_result(result) for result in job.take()]
            _check_summary(job.summary, shot)
        finally:
            if not job.done:
                job.cancel()
                for _ in job.results():  # what the engine sent before it saw the cancel
                    pass
    except ProtocolError as error:
        raise engine_error(error, f"shot {shot.spec.name!r}: the engine at {client.endpoint}") from error
    finally:
        client.close_session(session)


def engine_error(error: ProtocolError, context: str) -> EngineError:
    """What a protocol error means to a farm: out of memory, worth a retry (the engine is gone, silent or busy), or
    a request that fails again."""
    if error.code == ErrorCode.OUT_OF_MEMORY:
        return OutOfMemory(f"{context}: {error}")
    kind = EngineUnavailable if error.code in RETRYABLE else EngineError
    return kind(f"{context}: {error}")


def remote_record(engine: m.HelloReply, endpoint: str, options: Mapping[str, Any], precision: str) -> dict[str, Any]:
    """`run.json` of a shot the engine at `endpoint` computed: what it said of itself at hello, and the settings
    asked."""
    return {
        "engine": engine.engine_version,
        "model": engine.model.name,
        "checkpoint": engine.model.checkpoint,
        "device": engine.device,
        "precision": precision,
        "settings": {key: options[key] for key in WIRE_OPTIONS if key in options},
        "computed_by": endpoint,
    }


def _session_request(shot: PreparedShot) -> m.OpenSession:
    frames = shot.frames
    width, height = frames.size
    numbers = getattr(frames, "numbers", None)
    source = m.FrameSource(
        kind="files",
        path=str(Path(shot.spec.frames).absolute()),
        first_number=numbers[0] if numbers and not Path(shot.spec.frames).is_dir() else 0,
        view=m.View(**{key: getattr(shot.spec.view, key) for key in VIEW_DEFAULTS}),
        exr_layer=shot.spec.exr_layer,
    )
    objects = [m.ObjectSpec(id=object_id, name=f"object {object_id}") for object_id in shot.object_ids]
    return m.OpenSession(len(frames), width, height, objects, source, name=shot.spec.name)


def _propagate_request(shot: PreparedShot, options: Mapping[str, Any]) -> m.Propagate:
    wire = m.PropagateOptions(**{key: options[key] for key in WIRE_OPTIONS if key in options})
    dtype = "uint8" if shot.spec.matte_format == "png8" else "uint16"
    outputs = m.Outputs(matte_dtype=dtype, labels=True, uncertainty=True)
    return m.Propagate(first=shot.first, last=shot.last, direction=shot.spec.direction, options=wire, outputs=outputs)


def _frame_result(result: m.Result) -> FrameResult:
    assert result.labels is not None and result.uncertainty is not None  # asked for in every request
    return FrameResult(
        index=result.frame,
        source=result.source,
        object_ids=tuple(obj.id for obj in result.objects),
        mattes=_fraction(result.mattes),
        labels=result.labels,
        uncertainty=_fraction(result.uncertainty),
        objects=tuple(ObjectState(obj.id, obj.confidence, obj.lost, obj.area) for obj in result.objects),
    )


def _check_summary(summary: m.Summary | None, shot: PreparedShot) -> None:
    if summary is not None and summary.status != "done":
        reason = summary.error.message if summary.error is not None else summary.status
        raise EngineError(f"shot {shot.spec.name!r}: the engine's propagate ended {summary.status}: {reason}")


def _fraction(values: np.ndarray) -> np.ndarray:
    """Wire samples as float32 in [0, 1]: integers over their full scale, floats as they are."""
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32) / np.float32(np.iinfo(values.dtype).max)
    return values.astype(np.float32)
