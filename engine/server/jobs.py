"""A propagate in progress: what the worker computes and what the socket thread sends, shared between them.

The socket thread owns the job's life (start, acks, frames, cancel, summary); the worker only steps it. Every
field the two threads share is read and written under the worker's lock. `outbox` holds results computed and
not yet sent; the worker only steps a job whose outbox has room, and the socket thread only sends while the
client's credit allows, so a job never holds more than `window` results on the engine and `window` in flight.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from engine.io.view import DisplayView
from engine.learning.adaptation import AdaptProgress, Learned
from engine.model.afburr import AFBURR
from engine.propagation.frame_result import FrameResult
from engine.propagation.propagator import Propagator, Settings
from engine.server.results import ResultStats
from engine.server.streamed import StreamedFrames
from protocol import messages as m
from protocol.wire import Message


class JobOwner(Protocol):
    """What a job needs of the session it runs for (`engine.server.sessions.Session`, which holds the job):
    declared here so that the part does not import its owner."""

    id: str
    job: ServerJob | None
    view: DisplayView
    learned: Learned | None  # what its propagates have learnt of its keyframes (`Settings.adapt`)

    @property
    def plate(self) -> tuple[int, int]: ...

    @property
    def object_ids(self) -> tuple[int, ...]: ...

    def record_delivery(self, frame: int, direction: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """How the worker left a job: every step done, or failed with an error."""

    status: Literal["done", "failed"]
    error: m.Error | None = None


class ServerJob:
    """One propagate request of one session, from its reply to its summary."""

    def __init__(
        self,
        message: Message,
        client: bytes,
        session: JobOwner,
        frames: Sequence[np.ndarray],
        keyframes: Mapping[int, np.ndarray],
        settings: Settings,
        promised: int,
        reserved: int,
    ) -> None:
        self.message = message
        self.request: m.Propagate = message.body
        self.client = client  # the connection the stream goes to
        self.session = session
        self.frames = frames
        self.store = frames if isinstance(frames, StreamedFrames) else None
        self.keyframes = dict(keyframes)  # a snapshot: the session's may change once this job has ended
        self.settings = settings
        self.promised = promised  # results announced in propagate_reply
        self.reserved = reserved  # bytes held in the memory budget until the job ends
        self.started = time.monotonic()
        self.steps: Iterator[list[FrameResult]] | None = None  # made by the worker on the first step
        self.propagator: Propagator | None = None  # made by the worker with `steps`
        self.learning: AdaptProgress | None = None  # the worker's latest adaptation step, while it steps
        self.adapting: m.Adapting | None = None  # handed over by the worker after its step, for the socket thread
        self.outbox: deque[m.Result] = deque()
        self.produced = 0  # results computed (the next one's sequence number)
        self.sent = 0
        self.acked = 0
        self.busy = False  # the worker is computing a step of it now
        self.ended = False  # its summary has gone out (or its client has gone); nothing more happens
        self.outcome: Outcome | None = None
        self.runnable_since: float | None = None
        self.carried = (0.0, 0.0)  # queued and compute seconds of steps that produced no result yet
        self.stats = ResultStats()

    @property
    def msg_id(self) -> str:
        return self.message.header.msg_id

    @property
    def window(self) -> int:
        return self.request.window

    def runnable(self) -> bool:
        """Whether the worker may take a step now: alive, room in the outbox, and its frames at hand."""
        if self.ended or self.busy or self.outcome is not None or len(self.outbox) >= self.window:
            return False
        return self.store is None or self.store.ready()

    def begin(self, model: AFBURR) -> Iterator[list[FrameResult]]:
        """The propagator's steps for this job (called by the worker, which owns the model)."""
        session = self.session
        self.propagator = Propagator(
            model,
            self.frames,
            session.object_ids,
            self.settings,
            session.plate,
            on_adapt=self._learnt_a_step,
            learned=session.learned,
        )
        request = self.request
        return self.propagator.steps(self.keyframes, request.first, request.last, request.direction)

    def hand_over_progress(self) -> None:
        """After a step (the worker holds the lock): its adaptation progress becomes the message to send."""
        if self.learning is not None:
            progress, self.learning = self.learning, None
            self.adapting = m.Adapting(progress.step, progress.steps, progress.loss, progress.seconds_left)

    def _learnt_a_step(self, progress: AdaptProgress) -> None:
        self.learning = progress

    @property
    def learned(self) -> Learned | None:
        """What the session knows of its keyframes once this job has ended: its propagator's, if it learnt."""
        return self.session.learned if self.propagator is None else self.propagator.learned
