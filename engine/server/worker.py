"""The worker thread: it alone runs the model, one propagator step at a time, taking sessions in turn.

Sessions share the device frame by frame. Runnable jobs wait in a round-robin queue; the worker takes the first
runnable one, runs one step (one frame, sometimes none while a "both" segment's first pass runs), turns the
results into messages, and puts the job at the back. So two artists propagating at once both progress, each
at about half the device's rate, and a job that waits for its client (acks, frames) costs the others nothing.

A failure ends only its job: running out of device memory becomes a `failed` summary with `out_of_memory`
(retryable, at a lower resolution or budget), a bad plate file `not_found` or `invalid_field`, and anything
else `internal`, logged with its traceback. The worker then goes on with the other jobs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

import torch

from engine.errors import OutOfMemory
from engine.io import FrameSequence, InputError
from engine.io.errors import OutsideAllowedFolders
from engine.logs import event
from engine.model.afburr import AFBURR
from engine.propagation.frame_result import FrameResult
from engine.server.errors import error_body
from engine.server.jobs import Outcome, ServerJob
from engine.server.results import to_result
from protocol import messages as m
from protocol.errors import ErrorCode

log = logging.getLogger("engine.server.worker")


class Worker:
    """Owns the model; `lock` guards every job field it shares with the socket thread."""

    def __init__(self, model: AFBURR, wake: Callable[[], None]) -> None:
        self.model = model
        self.lock = threading.Condition()
        self._jobs: deque[ServerJob] = deque()
        self._retired: list[FrameSequence] = []  # file sources of closed sessions, to close between steps
        self._wake = wake  # tells the socket thread there is something to send; must not block
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="engine-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Finish the step in progress, then stop; False if it did not stop within `timeout` seconds."""
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def add(self, job: ServerJob) -> None:
        """Queue a job (caller holds `lock`)."""
        self._jobs.append(job)
        self.poke()

    def remove(self, job: ServerJob) -> None:
        """Forget an ended job (caller holds `lock`); a step in progress is finished and then dropped."""
        if job in self._jobs:
            self._jobs.remove(job)
        if not job.busy:
            job.steps = None

    def poke(self) -> None:
        """Something changed (an ack, a frame, a new job): look for runnable jobs again (caller holds `lock`)."""
        self._stamp_runnable()
        self.lock.notify_all()

    def retire(self, frames: FrameSequence) -> None:
        """Close a closed session's file source in the worker thread, which alone reads it."""
        with self.lock:
            self._retired.append(frames)
            self.lock.notify_all()

    # --- the thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self.lock:
                job = self._wait_for_work()
                if self._stopping:
                    return
                retired, self._retired = self._retired, []
                if job is not None:
                    job.busy = True
                    queued = time.monotonic() - (job.runnable_since or time.monotonic())
                    job.runnable_since = None
            for frames in retired:
                frames.close()
            if job is not None:
                self._finish_step(job, *self._step(job, queued))

    def _wait_for_work(self) -> ServerJob | None:
        """Sleep until there is a job to step, a source to close or a stop (caller holds `lock`)."""
        while not self._stopping:
            job = self._pick()
            if job is not None or self._retired:
                return job
            self.lock.wait()
        return None

    def _finish_step(self, job: ServerJob, results: list[m.Result], outcome: Outcome | None) -> None:
        with self.lock:
            job.busy = False
            if job.ended:
                job.steps = None  # cancelled while the step ran: its results go nowhere
            else:
                job.hand_over_progress()
                job.outbox.extend(results)
                job.outcome = outcome
                if outcome is not None:
                    job.steps = None
            self._stamp_runnable()
        self._wake()

    def _pick(self) -> ServerJob | None:
        """The first runnable job in turn order, moved to the back."""
        self._stamp_runnable()
        chosen = next((job for job in self._jobs if job.runnable()), None)
        if chosen is not None:
            self._jobs.remove(chosen)
            self._jobs.append(chosen)
        return chosen

    def _stamp_runnable(self) -> None:
        """Note when each job became runnable, so its results can say how long it queued for the device."""
        now = time.monotonic()
        for job in self._jobs:
            if job.runnable_since is None and job.runnable():
                job.runnable_since = now

    def _step(self, job: ServerJob, queued: float) -> tuple[list[m.Result], Outcome | None]:
        """One propagator step of `job`, as messages; never raises."""
        started = time.perf_counter()
        try:
            if job.steps is None:
                job.steps = job.begin(self.model)
            ready = next(job.steps, None)
            if ready is None:
                return [], Outcome("done")
            return self._messages(job, ready, queued, time.perf_counter() - started), None
        except (OutOfMemory, torch.OutOfMemoryError) as error:
            _release_device_memory()
            return [], _failed(job, ErrorCode.OUT_OF_MEMORY, str(error))
        except OutsideAllowedFolders as error:  # a link swapped into the plate's folder since the session opened
            return [], _failed(job, ErrorCode.FORBIDDEN, str(error))
        except InputError as error:  # a plate file that vanished or broke since the session opened
            missing = error.path is not None and not os.path.exists(error.path)
            return [], _failed(job, ErrorCode.NOT_FOUND if missing else ErrorCode.INVALID_FIELD, str(error))
        except Exception as error:  # a bug: log it with its traceback, keep serving the other jobs
            log.exception("propagate failed", extra={"fields": {"session": job.session.id, "job": job.msg_id}})
            return [], _failed(job, ErrorCode.INTERNAL, f"the engine failed: {type(error).__name__}: {error}")

    def _messages(self, job: ServerJob, ready: list[FrameResult], queued: float, compute: float) -> list[m.Result]:
        """Results for the frames a step finished; time of steps without a result goes to the next one."""
        queued, compute = queued + job.carried[0], compute + job.carried[1]
        if not ready:
            job.carried = (queued, compute)
            return []
        job.carried = (0.0, 0.0)
        messages = []
        for result in ready:
            timing = m.Timing(queued_ms=queued * 1e3, compute_ms=compute * 1e3)
            messages.append(to_result(result, job.request.outputs, job.session.object_ids, job.produced, timing))
            job.produced += 1
            queued = compute = 0.0
        return messages


def _failed(job: ServerJob, code: ErrorCode, message: str) -> Outcome:
    event(log, logging.WARNING, "propagate failed", session=job.session.id, job=job.msg_id, code=code.value)
    return Outcome("failed", error_body(code, message))


def _release_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
