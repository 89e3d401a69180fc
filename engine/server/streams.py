"""Propagate streams as the socket thread runs them: frames pulled, results paced by credit, one summary.

For each running job, `service()` asks for the next streamed frames (at most the frame window ahead of the
propagator), sends computed results while `sent - acked < window`, and ends the stream with a `summary` once
the worker is done and every result has gone out. Cancelling (by `cancel`, `close_session`, expiry, a lost
connection or shutdown) ends the stream at once: results computed and not yet sent are dropped, a step in
progress finishes on the worker and is discarded, and the summary counts what was sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from engine.logs import event
from engine.server.errors import from_protocol_error
from engine.server.jobs import ServerJob
from engine.server.sessions import MemoryBudget
from engine.server.streamed import frame_pixels
from engine.server.worker import Worker
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError
from protocol.wire import Message, make

log = logging.getLogger("engine.server.streams")

Send = Callable[[bytes, Message], bool]  # False: the client's connection is gone
MAX_INDICES = 256  # frame_request.indices' upper bound


class Streams:
    """The running propagate jobs, keyed by the propagate's msg_id."""

    def __init__(self, worker: Worker, budget: MemoryBudget, send: Send) -> None:
        self.worker = worker
        self.budget = budget
        self.send = send
        self.jobs: dict[str, ServerJob] = {}

    @property
    def queued_frames(self) -> int:
        with self.worker.lock:
            return sum(job.store.stored for job in self.jobs.values() if job.store is not None)

    def start(self, job: ServerJob) -> None:
        """Run `job`; its propagate_reply has been sent."""
        with self.worker.lock:
            self.jobs[job.msg_id] = job
            job.session.job = job
            self.worker.add(job)
        request = job.request
        event(
            log,
            logging.INFO,
            "propagate started",
            session=job.session.id,
            job=job.msg_id,
            first=request.first,
            last=request.last,
            direction=request.direction,
            frames=job.promised,
        )
        self.service()

    def service(self) -> None:
        """Move every job along: frame requests, results within credit, summaries of finished jobs."""
        with self.worker.lock:
            for job in list(self.jobs.values()):
                self._service(job)

    def ack(self, job: ServerJob, received: int) -> None:
        with self.worker.lock:
            job.acked = min(job.sent, max(job.acked, received))
            self.worker.poke()
        self.service()

    def frame(self, job: ServerJob, message: Message) -> None:
        """Store a requested frame; an unrequested one is refused, an invalid one fails the propagate."""
        body: m.Frame = message.body
        with self.worker.lock:
            if job.store is None:
                raise ProtocolError(ErrorCode.INVALID_STATE, "this session reads its frames from files")
            position = job.store.slot(body.index)
        if position is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, f"frame {body.index} was not requested (or already sent)")
        try:
            pixels = frame_pixels(body, job.session.plate, job.session.view)
        except ProtocolError as error:
            self.end(job, "failed", from_protocol_error(error))
            return
        with self.worker.lock:
            if not job.ended:
                job.store.fill(position, pixels)
                self.worker.poke()

    def cancel(self, job: ServerJob, reason: str) -> None:
        self.end(job, "cancelled", reason=reason)

    def client_gone(self, client: bytes) -> None:
        """The connection a stream goes to has gone: end its jobs without a summary nobody would read."""
        for job in [job for job in self.jobs.values() if job.client == client]:
            self.end(job, "cancelled", reason="client gone", notify=False)

    def end(
        self, job: ServerJob, status: str, error: m.Error | None = None, *, reason: str = "", notify: bool = True
    ) -> None:
        """End the stream: release what it holds and send its summary (unless the client is gone)."""
        with self.worker.lock:
            if job.ended:
                return
            job.ended = True
            job.outbox.clear()
            self.worker.remove(job)
            if job.store is not None:
                job.store.clear()
            self.jobs.pop(job.msg_id, None)
            if job.session.job is job:
                job.session.job = None
            job.session.learned = job.learned  # kept for the session's next propagate, whatever this one's end
            self.budget.release(job.reserved)
            summary = m.Summary(
                status=status,
                frames=job.sent,
                elapsed_s=time.monotonic() - job.started,
                objects=job.stats.summary(),
                error=error,
            )
        if notify:
            self.send(job.client, make(summary, session=job.session.id, parent=job.msg_id))
        fields = {"session": job.session.id, "job": job.msg_id, "status": status, "frames": job.sent}
        if reason:
            fields["reason"] = reason
        if error is not None:
            fields["code"] = error.code
        event(log, logging.INFO, "propagate ended", **fields)

    def _service(self, job: ServerJob) -> None:
        """One job's sending (caller holds the lock)."""
        if job.ended:
            return
        if job.store is not None and not self._request_frames(job):
            return
        if job.adapting is not None:
            progress, job.adapting = job.adapting, None
            if not self._stream(job, progress):
                return
        while job.outbox and job.sent - job.acked < job.window:
            result = job.outbox.popleft()
            if not self._stream(job, result):
                return
            job.sent += 1
            job.stats.add(result)
            job.session.record_delivery(result.frame, job.request.direction)
        if job.outcome is not None and not job.outbox:
            self.end(job, job.outcome.status, job.outcome.error)

    def _request_frames(self, job: ServerJob) -> bool:
        indices = job.store.take_requests()
        for start in range(0, len(indices), MAX_INDICES):
            if not self._stream(job, m.FrameRequest(indices=indices[start : start + MAX_INDICES])):
                return False
        return True

    def _stream(self, job: ServerJob, body: object) -> bool:
        """Send one message of the job's stream; a lost connection cancels the job."""
        if self.send(job.client, make(body, session=job.session.id, parent=job.msg_id)):
            return True
        self.end(job, "cancelled", reason="client gone", notify=False)
        return False
