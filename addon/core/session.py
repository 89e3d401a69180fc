"""One propagation from Blender's side: handshake, shot, keyframes, then results taken without ever blocking.

Opening the run (hello, open the shot, keyframes, the propagate request) waits for the engine's replies, so
`begin()` does it on a worker thread while Blender's timer keeps calling `poll()`, which reports "connecting"
until the worker has handed the open run over; the worker owns the connection until then, so no socket is ever
used from two threads. An engine at its session cap answers `busy` with `retry_after`: the worker waits that
long (the panel says so) and asks again, until cancelled.

No `bpy` here. The modal operator calls `PropagationRun.poll()` from a timer and the tests call the same
methods directly, since timers and modal handlers do not run in the `bpy` module. The protocol is imported
inside the methods, not at module level, so that enabling the add-on does not load pyzmq.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..vendored import protocol_module
from .connection import KeyFiles, _curve_keys

CLOSE_TIMEOUT = 2.0  # seconds: closing must not hold Blender up; the engine expires a session it never hears of
BUSY_RETRY_DEFAULT = 2.0  # seconds to wait when a busy engine gives no usable retry_after
BUSY_RETRY_MAX = 60.0  # seconds: a longer hint is capped, so the panel never sits silent for minutes

Status = Literal["idle", "connecting", "running", "done", "cancelled", "failed"]
ResultSink = Callable[[Any], None]  # receives each `protocol.messages.Result`, in the order they arrive


class RunFailed(Exception):
    """A run could not start; `message` is written for the artist and `code` is the protocol's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Engine:
    """Where the engine listens and how to reach it."""

    address: str
    keys: KeyFiles = field(default_factory=KeyFiles)
    timeout: float = 10.0


@dataclass(frozen=True)
class FrameFiles:
    """Frames the engine reads from its own disk: a folder, a printf/hash pattern or a movie, as an absolute path."""

    path: str
    first_number: int = 0  # the file number of frame 0 in a pattern
    exr_layer: str = ""  # the layer of MultiLayer EXR files; "": the image, else the Combined pass


@dataclass(frozen=True)
class FrameStream:
    """Frames this side sends when the engine asks: `read(index)` returns an H x W x 3 image, uint8 display sRGB
    (`colorspace` "srgb") or float16 scene-linear ("linear"), which the engine converts as it does EXR files."""

    read: Callable[[int], np.ndarray]
    colorspace: Literal["srgb", "linear"] = "srgb"


@dataclass(frozen=True)
class Shot:
    """The plate as the engine must know it; `objects` are (id, name) pairs, one per mask layer."""

    frame_count: int
    width: int
    height: int
    objects: Sequence[tuple[int, str]]
    frames: FrameFiles | FrameStream
    name: str = ""
    view: Mapping[str, Any] = field(default_factory=dict)  # `View` fields: how scene-linear frames are shown


@dataclass(frozen=True)
class RunSettings:
    """What to propagate and how: the inclusive frame range, the direction, and the network's options."""

    first: int
    last: int
    direction: Literal["forward", "backward", "both"] = "both"
    reader: Literal["global", "kernel", "spatial"] = "global"
    max_size: int | None = None  # shorter side of the internal resolution; 0: the plate's own; None: the network's
    matte_dtype: Literal["uint8", "uint16"] = "uint16"
    contours: bool = False
    adapt: int = 0  # steps of learning the shot from its keyframes before propagating; 0: none


@dataclass(frozen=True)
class RunProgress:
    """What the UI shows: results delivered of those promised (0 until the engine says), and a status line."""

    done: int
    total: int
    status: Status
    message: str

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled", "failed")


class PropagationRun:
    """One propagate request against one engine; `start()`, then `poll()` until finished, then `close()`."""

    def __init__(
        self,
        engine: Engine,
        shot: Shot,
        keyframes: Mapping[int, np.ndarray],
        settings: RunSettings,
        on_result: ResultSink,
    ) -> None:
        self.engine = engine
        self.shot = shot
        self.keyframes = keyframes
        self.settings = settings
        self.on_result = on_result
        self._client: Any = None  # protocol.client.EngineClient while open
        self._session = ""
        self._job: Any = None  # protocol.stream.PropagateJob once started
        self._engine_gone = False  # then closing the session would only wait for nothing
        self._progress = RunProgress(0, 0, "idle", "Not started")
        self._opener: threading.Thread | None = None  # opens the run in `begin()`; owns the connection until done
        self._stop = threading.Event()  # cancel or close while opening
        self._handover = threading.Lock()  # the worker hands the open run over, or close() stops it: never both
        self.failure: RunFailed | None = None  # why opening failed, once it has

    @property
    def is_open(self) -> bool:
        """Whether a connection (and maybe an engine session) is still held; `close()` releases both."""
        return self._client is not None

    def begin(self) -> None:
        """Open the run on a worker thread and return at once; `poll()` says "connecting" until it is open.

        If opening fails, `poll()` reports the run failed and `failure` says why; nothing is left open.
        """
        self._progress = RunProgress(0, 0, "connecting", f"Connecting to the engine at {self.engine.address}")
        self._opener = threading.Thread(target=self._open, name="maskprop-open-run", daemon=True)
        self._opener.start()

    def start(self) -> None:
        """`begin()` and wait until the run is open, for scripts; raises `RunFailed` if it could not be."""
        self.begin()
        assert self._opener is not None
        self._opener.join()
        if self.failure is not None:
            raise self.failure

    def poll(self) -> RunProgress:
        """Hand every result that has arrived to `on_result` and report progress; never blocks, never raises."""
        if self._opener is not None:
            if self._opener.is_alive():
                return self._progress
            self._opener = None  # joined: what the worker set is visible here
            if self.failure is not None:
                return self._end("failed", self.failure.message)
            if self._job is None:
                return self._end("cancelled", "Cancelled while connecting")
        if self._job is None or self._progress.finished:
            return self._progress
        errors = protocol_module("errors")
        try:
            results = self._job.take()
        except errors.ProtocolError as error:
            self._engine_gone = error.code == "peer_gone"
            return self._end("failed", self._explain(error))
        for result in results:
            if not self._deliver(result):
                return self._progress
        if self._job.done:
            return self._end_with_summary(self._job.summary)
        total = self._job.expected_frames or 0
        self._progress = RunProgress(self._job.taken, total, "running", self._running_message(total))
        return self._progress

    def _running_message(self, total: int) -> str:
        learning = self._job.adapting
        if self._job.taken == 0 and learning is not None and learning.step < learning.steps:
            return f"Learning the shot: step {learning.step} of {learning.steps}, {learning.seconds_left:.0f} s left"
        return f"Propagating: {self._job.taken} of {total}"

    def cancel(self) -> None:
        """Ask the engine to stop between frames; a later `poll()` reports `cancelled` once it has."""
        self._stop.set()  # while opening: the worker gives up at its next step
        if self._job is not None and not self._progress.finished:
            self._job.cancel()

    def close(self) -> None:
        """Close the engine session and the connection; safe to call at any time and more than once.

        While the run is still opening, the worker is told to stop and closes what it opened itself.
        """
        with self._handover:
            if self._opener is not None and self._opener.is_alive() and self._job is None:
                self._stop.set()
                self._progress = RunProgress(0, 0, "cancelled", "Stopped while connecting")
                return
        client, self._client = self._client, None
        if client is None:
            return
        errors = protocol_module("errors")
        try:
            if self._session and not self._engine_gone:
                client.close_session(self._session, timeout=CLOSE_TIMEOUT)
        except errors.ProtocolError:
            pass  # the engine is gone or slow: it expires the session on its own
        finally:
            client.close()
        if self._progress.status == "running":
            self._end("cancelled", "Stopped: the connection to the engine was closed")

    # --- opening, on the worker thread ------------------------------------------------------------------

    def _open(self) -> None:
        """Hello, session, keyframes, propagate; hands the open run over, or sets `failure` and closes it all."""
        errors = protocol_module("errors")
        client, session = None, ""
        try:
            client = self._connect()
            client.hello()
            session = self._open_session(client)
            for frame, labels in sorted(self.keyframes.items()):
                self._check_stop()
                client.keyframe(session, protocol_module("messages").Keyframe(frame=frame, labels=labels))
            self._check_stop()
            job = client.propagate(
                session, self._propagate_request(), frames=self._frame_reader(), colorspace=self._colorspace()
            )
        except _Stopped:
            _close_quietly(client, session)
            return
        except (errors.ProtocolError, ValueError) as error:
            self.failure = RunFailed(self._explain(error, client), str(getattr(error, "code", "invalid_field")))
            _close_quietly(client, session)
            return
        with self._handover:
            if not self._stop.is_set():
                self._client, self._session, self._job = client, session, job
                self._progress = RunProgress(0, 0, "running", "Waiting for the engine")
                return
        job.cancel()
        _close_quietly(client, session)

    def _open_session(self, client: Any) -> str:
        """Open the shot, waiting out `busy` answers for the `retry_after` the engine asks for, until stopped."""
        errors = protocol_module("errors")
        while True:
            self._check_stop()
            try:
                return client.open_session(self._open_request()).session
            except errors.ProtocolError as error:
                if error.code != "busy":
                    raise
                wait = _retry_after(error.details)
                self._progress = RunProgress(
                    0, 0, "connecting", f"The engine is busy ({error.message}); asking again in {wait:g} s"
                )
                if self._stop.wait(wait):
                    raise _Stopped from None

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _Stopped

    # --- requests ---------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        client_module = protocol_module("client")
        curve = _curve_keys(self.engine.keys)
        return client_module.EngineClient(
            self.engine.address, timeout=self.engine.timeout, client_name="maskprop-blender", curve=curve
        )

    def _open_request(self) -> Any:
        messages = protocol_module("messages")
        frames = self.shot.frames
        view = messages.View(**self.shot.view)
        if isinstance(frames, FrameFiles):
            source = messages.FrameSource(
                kind="files", path=frames.path, first_number=frames.first_number, view=view, exr_layer=frames.exr_layer
            )
        else:
            source = messages.FrameSource(kind="stream", view=view)
        return messages.OpenSession(
            frame_count=self.shot.frame_count,
            width=self.shot.width,
            height=self.shot.height,
            objects=[messages.ObjectSpec(id=object_id, name=name) for object_id, name in self.shot.objects],
            source=source,
            name=self.shot.name,
        )

    def _propagate_request(self) -> Any:
        messages = protocol_module("messages")
        settings = self.settings
        return messages.Propagate(
            first=settings.first,
            last=settings.last,
            direction=settings.direction,
            options=messages.PropagateOptions(reader=settings.reader, max_size=settings.max_size, adapt=settings.adapt),
            outputs=messages.Outputs(matte_dtype=settings.matte_dtype, contours=settings.contours),
        )

    def _frame_reader(self) -> Callable[[int], np.ndarray] | None:
        frames = self.shot.frames
        return frames.read if isinstance(frames, FrameStream) else None

    def _colorspace(self) -> str:
        frames = self.shot.frames
        return frames.colorspace if isinstance(frames, FrameStream) else "srgb"

    # --- endings ----------------------------------------------------------------------------------------

    def _deliver(self, result: Any) -> bool:
        """Give one result to the sink; a sink that fails (a full disk) stops the run instead of losing frames."""
        try:
            self.on_result(result)
        except Exception as error:  # whatever the Blender side raises, the run must end cleanly
            self._job.cancel()
            self._end("failed", f"Could not store the result of frame {result.frame}: {error}")
            return False
        return True

    def _end_with_summary(self, summary: Any) -> RunProgress:
        done = self._job.taken
        if summary.status == "done":
            return self._end("done", f"Propagated {done} frames in {summary.elapsed_s:.1f} s")
        if summary.status == "cancelled":
            return self._end("cancelled", f"Cancelled after {done} frames")
        reason = summary.error.message if summary.error is not None else "no reason given"
        return self._end("failed", f"The engine failed after {done} frames: {reason}")

    def _end(self, status: Status, message: str) -> RunProgress:
        done = 0 if self._job is None else self._job.taken
        total = 0 if self._job is None else self._job.expected_frames or 0
        self._progress = RunProgress(done, total, status, message)
        return self._progress

    def _explain(self, error: Exception, client: Any = None) -> str:
        """An artist reads this: say what to do, since a timeout or a code alone explains nothing."""
        address = self.engine.address
        code = str(getattr(error, "code", ""))
        detail = getattr(error, "message", str(error))
        client = client if client is not None else self._client
        if code == "timeout" and (client is None or client.engine is None):  # no hello answered
            return (
                f"No engine answers at {address}: start one with `python -m engine serve` "
                "or enable 'Start a local engine' (if it runs, check that the CURVE keys match)"
            )
        if code == "version_mismatch":
            return f"The engine at {address} speaks another protocol version ({detail}): install matching versions"
        if code == "peer_gone":
            return f"Lost the engine at {address}: {detail}"
        return f"The engine at {address} refused: {detail}"


class _Stopped(Exception):
    """Opening was cancelled or the run closed; the worker cleans up what it opened."""


def _retry_after(details: Mapping[str, Any]) -> float:
    """The engine's `retry_after` hint in seconds, kept within sense (a missing or odd hint waits a little)."""
    hint = details.get("retry_after")
    if isinstance(hint, int | float) and not isinstance(hint, bool) and hint > 0:
        return min(float(hint), BUSY_RETRY_MAX)
    return BUSY_RETRY_DEFAULT


def _close_quietly(client: Any, session: str) -> None:
    """Close what the worker opened; the engine is maybe gone, and it expires sessions it never hears of."""
    if client is None:
        return
    errors = protocol_module("errors")
    try:
        if session:
            client.close_session(session, timeout=CLOSE_TIMEOUT)
    except errors.ProtocolError:
        pass
    finally:
        client.close()
