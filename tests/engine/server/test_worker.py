"""The worker thread with stand-in propagations: turns between jobs, and failures that end one job only."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from engine.errors import OutOfMemory
from engine.io import InputError
from engine.propagation.propagator import Settings
from engine.server.jobs import ServerJob
from engine.server.sessions import Session
from engine.server.worker import Worker
from protocol import messages as m
from protocol.wire import make

SHOT = m.OpenSession(frame_count=4, width=8, height=8, objects=[m.ObjectSpec(1, "a")], source=m.FrameSource("stream"))


def job(steps: Callable[[], Iterator[list]], name: str = "s") -> ServerJob:
    session = Session(name, SHOT, None, 0.0)
    made = ServerJob(make(m.Propagate(first=0, last=3)), b"client", session, [], {}, Settings(), 4, 0)
    made.begin = lambda model: steps()  # stands in for the propagator
    return made


@pytest.fixture
def worker() -> Iterator[tuple[Worker, threading.Event]]:
    woken = threading.Event()
    running = Worker(model=None, wake=woken.set)
    running.start()
    yield running, woken
    assert running.stop(timeout=5)


def run_to_end(worker: tuple[Worker, threading.Event], jobs: list[ServerJob]) -> None:
    """Queue the jobs and wait, as the socket thread does, for the worker's wake-ups until all have ended."""
    running, woken = worker
    with running.lock:
        for each in jobs:
            running.add(each)
    for _ in range(200):
        with running.lock:
            if all(j.outcome is not None for j in jobs):
                return
        woken.wait(0.05)
        woken.clear()
    raise AssertionError("the jobs did not end")


def test_jobs_take_turns_step_by_step(worker):
    order: list[str] = []

    def steps(name: str) -> Callable[[], Iterator[list]]:
        def run() -> Iterator[list]:
            for _ in range(4):
                order.append(name)
                yield []

        return run

    jobs = [job(steps("a"), "a"), job(steps("b"), "b")]
    run_to_end(worker, jobs)
    assert order == ["a", "b"] * 4
    assert [j.outcome.status for j in jobs] == ["done", "done"]


@pytest.mark.parametrize(
    ("failure", "code", "retryable"),
    [
        (OutOfMemory("out of device memory during read"), "out_of_memory", True),
        (InputError("frame /gone/0001.png does not exist", "/gone/0001.png"), "not_found", False),
        (ZeroDivisionError("a bug"), "internal", False),
    ],
)
def test_a_failing_job_ends_alone_with_its_error(worker, failure, code, retryable):
    def broken() -> Iterator[list]:
        raise failure
        yield []

    def healthy() -> Iterator[list]:
        yield from ([] for _ in range(3))

    bad, good = job(broken, "bad"), job(healthy, "good")
    run_to_end(worker, [bad, good])
    assert bad.outcome.status == "failed"
    assert (bad.outcome.error.code, bad.outcome.error.retryable) == (code, retryable)
    assert good.outcome.status == "done"


def test_a_job_is_not_stepped_while_its_outbox_is_full(worker):
    steps = 0

    def run() -> Iterator[list]:
        nonlocal steps
        while True:
            steps += 1
            yield []

    stalled = job(run)
    stalled.outbox.extend([object()] * stalled.window)  # results the client has no credit for yet
    with worker[0].lock:
        worker[0].add(stalled)
    worker[1].wait(0.3)
    assert steps == 0
    with worker[0].lock:
        stalled.ended = True
        worker[0].remove(stalled)
