"""`PropagateJob`: one propagate request as the client sees it, from its reply to its summary.

The engine streams one `result` per frame and ends with a `summary`; for a streamed shot it also asks
for frames with `frame_request`. The job keeps the results that have arrived until the caller takes them
and acknowledges each one taken, which is the credit that lets the engine send more (at most `window`
results ahead). So a caller that stops reading stops the engine's sending for that job, and nothing
piles up in memory on either side.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError
from protocol.wire import Message, make

FrameProvider = Callable[[int], np.ndarray]


class Connection(Protocol):
    """What a job needs of the client that started it (`protocol.client.EngineClient`): declared here so that
    the job, a part of the client, does not import its owner."""

    def poll(self) -> list[Message]: ...

    def wait_until(self, condition: Callable[[], bool], timeout: float | None = None) -> None: ...

    def cancel(self, job: PropagateJob) -> None: ...

    def queue(self, message: Message) -> None: ...

    def forget(self, job: PropagateJob) -> None: ...


class PropagateJob:
    """Results of one propagate request; `take()` without blocking, or iterate `results()`."""

    def __init__(
        self,
        client: Connection,
        request: Message,
        frames: FrameProvider | None,
        colorspace: m.Colorspace,
        reply_deadline: float,
    ) -> None:
        self.client = client
        self.request = request
        self.msg_id = request.header.msg_id
        self.session = request.header.session
        self.expected_frames: int | None = None  # from propagate_reply
        self.adapting: m.Adapting | None = None  # the engine's latest step of learning the keyframes, if it adapts
        self.summary: m.Summary | None = None
        self.error: ProtocolError | None = None
        self.cancel_requested = False
        self._frames = frames
        self._colorspace = colorspace
        self._reply_deadline: float | None = reply_deadline
        self._arrived: collections.deque[m.Result] = collections.deque()
        self._taken = 0

    # --- for the caller ---------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """The stream has ended (summary or error) and every result has been taken."""
        return (self.summary is not None or self.error is not None) and not self._arrived

    @property
    def has_results(self) -> bool:
        """Results have arrived that `take()` would hand over."""
        return bool(self._arrived)

    @property
    def taken(self) -> int:
        return self._taken

    def take(self) -> list[m.Result]:
        """The results that have arrived since the last call; never blocks. Raises if the job failed."""
        self.client.poll()
        results = list(self._arrived)
        self._arrived.clear()
        if results:
            self._taken += len(results)
            self.client.queue(make(m.Ack(received=self._taken), session=self.session, parent=self.msg_id))
            self.client.poll()
        if self.error is not None and not results:
            raise self.error
        return results

    def results(self) -> Iterator[m.Result]:
        """Every result in order, blocking between them; ends after the summary, raises on failure."""
        while True:
            yield from self.take()
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            self.client.wait_until(lambda: self.has_results or self.done)

    def cancel(self) -> None:
        self.client.cancel(self)

    # --- for the client ---------------------------------------------------------------------------------

    def receive(self, message: Message) -> None:
        """Handle a message whose parent is this job's request."""
        body = message.body
        match message.msg_type:
            case "propagate_reply":
                self.expected_frames = body.frames
                self._reply_deadline = None
            case "result":
                self._arrived.append(body)
            case "frame_request":
                self._send_frames(body.indices)
            case "adapting":
                self.adapting = body
            case "summary":
                self.summary = body
                self._finish()
            case "error":
                self.fail(ProtocolError.from_body(body))
            case _:
                self.fail(ProtocolError(ErrorCode.BAD_MESSAGE, f"unexpected {message.msg_type} in a stream"))

    def fail(self, error: ProtocolError) -> None:
        if self.summary is None and self.error is None:
            self.error = error
        self._finish()

    def check_deadline(self, now: float) -> None:
        if self._reply_deadline is not None and now >= self._reply_deadline:
            self.fail(ProtocolError(ErrorCode.TIMEOUT, "no reply to propagate in time"))

    def _finish(self) -> None:
        self._reply_deadline = None
        self.client.forget(self)

    def _send_frames(self, indices: list[int]) -> None:
        if self._frames is None:
            self._abort(ProtocolError(ErrorCode.INVALID_STATE, "the engine asked for frames, none were given"))
            return
        for index in indices:
            try:
                pixels = self._frames(index)
            except Exception as error:  # the caller's reader: any failure ends this job, not the client
                self._abort(ProtocolError(ErrorCode.NOT_FOUND, f"cannot read frame {index}: {error}"))
                return
            try:
                frame = m.Frame(index=index, pixels=np.asarray(pixels), colorspace=self._colorspace)
                self.client.queue(make(frame, session=self.session, parent=self.msg_id))
            except ProtocolError as error:  # e.g. a float64 image: no such dtype on the wire
                self._abort(ProtocolError(error.code, f"cannot send frame {index}: {error.message}"))
                return

    def _abort(self, error: ProtocolError) -> None:
        """Fail locally and tell the engine to stop working for nothing."""
        self.client.queue(make(m.Cancel(target=self.msg_id), session=self.session))
        self.fail(error)
