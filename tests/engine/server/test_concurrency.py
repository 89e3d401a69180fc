"""Several artists on one engine: propagates interleave frame by frame, and a vanished client stalls nobody."""

from __future__ import annotations

from engine.bench.server_bench import take_all
from engine.logs import session_tag
from protocol.client import EngineClient
from protocol.stream import PropagateJob
from tests.engine.server.helpers import FRAMES, propagate_request, wait_for


def arrival_order(jobs: dict[str, PropagateJob]) -> list[str]:
    """Drive every job to its end; the job names in the order their results arrived."""
    arrivals = take_all(jobs, timeout=60.0)
    return [name for _, name in sorted((t, name) for name, times in arrivals.items() for t in times)]


def test_two_clients_propagating_at_once_both_finish_interleaved(engine, shot):
    with EngineClient(engine.endpoint, timeout=20.0) as a, EngineClient(engine.endpoint, timeout=20.0) as b:
        sessions = {"a": shot.open(a), "b": shot.open(b)}
        jobs = {
            "a": a.propagate(sessions["a"], propagate_request(), frames=shot.pixels),
            "b": b.propagate(sessions["b"], propagate_request(), frames=shot.pixels),
        }
        arrivals = arrival_order(jobs)
        assert arrivals.count("a") == arrivals.count("b") == FRAMES
        assert all(job.summary.status == "done" for job in jobs.values())
        last = {name: len(arrivals) - 1 - arrivals[::-1].index(name) for name in jobs}
        assert arrivals.index("b") < last["a"] and arrivals.index("a") < last["b"], arrivals
        a.close_session(sessions["a"])
        b.close_session(sessions["b"])


def test_a_client_that_vanishes_mid_stream_stalls_nobody_and_its_session_is_reclaimed(start_engine, shot):
    engine = start_engine("--idle-timeout", "2")
    with EngineClient(engine.endpoint, timeout=20.0) as watcher, EngineClient(engine.endpoint, timeout=20.0) as b:
        leaver = EngineClient(engine.endpoint, timeout=20.0)
        abandoned = shot.open(leaver)
        gone = leaver.propagate(abandoned, propagate_request(), frames=shot.pixels)
        assert wait_for(lambda: bool(gone.take()), timeout=30, step=0.01)
        leaver.close()

        job = b.propagate(shot.open(b), propagate_request(), frames=shot.pixels)
        assert len(list(job.results())) == FRAMES
        assert job.summary.status == "done"
        assert wait_for(lambda: watcher.status().sessions == 0, timeout=10), engine.log()
    log = engine.log()
    assert f"propagate ended session={session_tag(abandoned)}" in log
    assert f"session expired session={session_tag(abandoned)}" in log
