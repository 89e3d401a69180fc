"""A session on the real server, as the add-on drives it: stream, cancel, correct and re-propagate, close."""

from __future__ import annotations

import numpy as np
import pytest

from engine.propagation.plan import affected_range
from protocol import messages as m
from protocol.client import EngineClient
from protocol.errors import ErrorCode, ProtocolError
from tests.engine.server.helpers import FRAMES, propagate_request


def test_a_full_session_streams_one_result_per_frame(client, shot):
    hello = client.hello()
    assert hello.capabilities.frame_sources == ["stream", "files"]
    session = shot.open(client, keyframe=4)
    request = propagate_request(0, FRAMES - 1, direction="both", outputs=m.Outputs(uncertainty=True, contours=True))
    job = client.propagate(session, request, frames=shot.pixels)
    results = list(job.results())

    assert job.summary.status == "done"
    assert job.expected_frames == job.summary.frames == FRAMES
    assert sorted(r.frame for r in results) == list(range(FRAMES))
    assert [r.sequence for r in results] == list(range(FRAMES))
    for result in results:
        assert [obj.id for obj in result.objects] == [1, 2]
        assert result.mattes.shape == (2, shot.height, shot.width)
        assert result.mattes.dtype == np.uint16
        assert result.labels.shape == (shot.height, shot.width)
        assert result.uncertainty.dtype == np.float16
        assert all(0.0 <= obj.confidence <= 1.0 for obj in result.objects)
        assert result.contours is not None
    keyframe = next(r for r in results if r.frame == 4)
    assert keyframe.source == "keyframe"
    np.testing.assert_array_equal(keyframe.labels, shot.labels)
    assert {r.source for r in results if r.frame < 4} == {"backward"}
    assert [s.id for s in job.summary.objects] == [1, 2]

    status = client.status(session)
    assert status.session == m.SessionStatus(state="idle", keyframes=[4], frames_done=FRAMES)
    assert status.sessions >= 1
    client.close_session(session)
    with pytest.raises(ProtocolError) as refused:
        client.status(session)
    assert refused.value.code == ErrorCode.UNKNOWN_SESSION


def test_a_forward_propagate_streams_only_the_frames_it_reaches(client, shot):
    session = shot.open(client, keyframe=10)
    job = client.propagate(session, propagate_request(5, 15), frames=shot.pixels)
    frames = [r.frame for r in job.results()]
    assert frames == list(range(10, 16))
    assert job.summary.status == "done"
    client.close_session(session)


def test_cancel_stops_between_frames_and_the_session_stays_usable(client, shot):
    session = shot.open(client)
    job = client.propagate(session, propagate_request(window=1), frames=shot.pixels)
    first = next(job.results())
    assert first.frame == 0
    job.cancel()
    rest = list(job.results())
    assert job.summary.status == "cancelled"
    assert job.summary.frames == 1 + len(rest) < FRAMES

    again = client.propagate(session, propagate_request(0, 5), frames=shot.pixels)
    assert [r.frame for r in again.results()] == list(range(6))
    assert again.summary.status == "done"
    client.close_session(session)


def test_a_corrected_keyframe_invalidates_its_range_and_repropagation_replaces_it(client, shot):
    session = shot.open(client, keyframe=0)
    first_run = client.propagate(session, propagate_request(direction="both"), frames=shot.pixels)
    assert len(list(first_run.results())) == FRAMES

    reply = client.keyframe(session, m.Keyframe(frame=12, labels=shot.labels))
    expected = affected_range([0], 12, 0, FRAMES - 1, "both")
    assert reply.invalidated == list(expected) == [1, FRAMES - 1]
    assert reply.objects == [1, 2]

    first, last = reply.invalidated
    rerun = client.propagate(session, propagate_request(first, last, direction="both"), frames=shot.pixels)
    assert sorted(r.frame for r in rerun.results()) == list(range(first, last + 1))
    assert rerun.summary.status == "done"
    assert client.status(session).session.keyframes == [0, 12]
    client.close_session(session)


def test_closing_a_propagating_session_cancels_its_stream_first(client, shot):
    session = shot.open(client)
    job = client.propagate(session, propagate_request(window=1), frames=shot.pixels)
    next(job.results())
    client.close_session(session)
    list(job.results())
    assert job.summary.status == "cancelled"


def run_all(client, session: str, request: m.Propagate) -> list[m.Result]:
    return list(client.propagate(session, request).results())


@pytest.mark.parametrize("scenario", ["no keyframe", "past the shot", "unreached range"])
def test_a_propagate_that_does_not_fit_the_session_is_refused(client, shot, scenario):
    session = client.open_session(shot.open_request()).session
    if scenario == "unreached range":
        client.keyframe(session, m.Keyframe(frame=10, labels=shot.labels))
    last = FRAMES if scenario == "past the shot" else 5
    with pytest.raises(ProtocolError) as refused:
        run_all(client, session, propagate_request(0, last))
    expected = ErrorCode.INVALID_FIELD if scenario == "past the shot" else ErrorCode.INVALID_STATE
    assert refused.value.code == expected
    client.close_session(session)


@pytest.mark.parametrize(
    ("frame", "change"),
    [(FRAMES, lambda labels: labels), (0, lambda labels: labels[:10]), (0, lambda labels: labels * 3)],
    ids=["past the shot", "wrong size", "undeclared object"],
)
def test_a_keyframe_that_does_not_fit_the_session_is_invalid_field(client, shot, frame, change):
    session = client.open_session(shot.open_request()).session
    with pytest.raises(ProtocolError) as refused:
        client.keyframe(session, m.Keyframe(frame=frame, labels=np.ascontiguousarray(change(shot.labels))))
    assert refused.value.code == ErrorCode.INVALID_FIELD
    assert refused.value.details["field"].startswith("body.")
    client.close_session(session)


def test_a_keyframe_or_a_second_propagate_during_a_propagate_is_invalid_state(client, shot):
    session = shot.open(client)
    job = client.propagate(session, propagate_request(window=1), frames=shot.pixels)
    next(job.results())
    for attempt in (
        lambda: client.keyframe(session, m.Keyframe(frame=3, labels=shot.labels)),
        lambda: list(client.propagate(session, propagate_request()).results()),
    ):
        with pytest.raises(ProtocolError) as refused:
            attempt()
        assert refused.value.code == ErrorCode.INVALID_STATE
    job.cancel()
    list(job.results())
    client.close_session(session)


def test_mattes_as_keyframes_and_float_linear_frames_are_accepted(client, shot):
    session = client.open_session(shot.open_request()).session
    mattes = np.stack([shot.labels == 1, shot.labels == 2]).astype(np.float32)
    reply = client.keyframe(session, m.Keyframe(frame=0, mattes=mattes, object_ids=[1, 2]))
    assert reply.objects == [1, 2]

    def linear(index: int) -> np.ndarray:
        return (shot.pixels(index).astype(np.float32) / 255) ** 2.2

    job = client.propagate(session, propagate_request(0, 3), frames=linear, colorspace="linear")
    assert [r.frame for r in job.results()] == [0, 1, 2, 3]
    assert job.summary.status == "done"
    client.close_session(session)


def test_the_session_cap_answers_busy_with_retry_after(start_engine, shot):
    engine = start_engine("--max-sessions", "1")
    with EngineClient(engine.endpoint, timeout=20.0) as client:
        client.open_session(shot.open_request())
        with pytest.raises(ProtocolError) as refused:
            client.open_session(shot.open_request())
    assert refused.value.code == ErrorCode.BUSY
    assert refused.value.retryable
    assert refused.value.details["retry_after"] > 0


def test_an_ipc_endpoint_serves_like_tcp(start_engine, tmp_path_factory):
    engine = start_engine("--bind", f"ipc://{tmp_path_factory.mktemp('ipc')}/engine.sock")
    assert engine.endpoint.startswith("ipc://")
    with EngineClient(engine.endpoint, timeout=20.0) as client:
        assert client.hello().capabilities.max_sessions == 8


def test_a_session_learns_its_keyframes_once_and_refines_what_it_learnt_with_a_correction(client, engine, shot):
    session = shot.open(client)
    options = m.PropagateOptions(max_size=0, adapt=4)

    def propagate() -> m.Adapting | None:
        job = client.propagate(session, propagate_request(0, 5, options=options), frames=shot.pixels)
        results = list(job.results())
        assert job.summary.status == "done", job.summary
        assert sorted(r.frame for r in results) == list(range(6))
        assert all(result.mattes.shape == (2, shot.height, shot.width) for result in results)
        return job.adapting

    def learnt() -> list[str]:
        return [line for line in engine.log().splitlines() if "engine.propagation" in line and "keyframes" in line]

    last_step = propagate()
    assert "learned the keyframes" in learnt()[-1] and "steps=4 start=network" in learnt()[-1]
    assert (last_step.step, last_step.steps, last_step.seconds_left) == (4, 4, 0.0) and last_step.loss > 0
    assert propagate() is None  # nothing to learn, nothing reported
    assert "keyframes already learnt" in learnt()[-1]
    client.keyframe(session, m.Keyframe(frame=3, labels=np.ascontiguousarray(np.roll(shot.labels, 2, axis=1))))
    assert propagate().steps == 1
    assert 'steps=1 start="earlier adaptation"' in learnt()[-1]
    client.close_session(session)


def test_an_adaptation_budget_out_of_bounds_is_an_invalid_field(client, shot):
    session = shot.open(client)
    with pytest.raises(ProtocolError) as caught:
        job = client.propagate(session, propagate_request(0, 5, options=m.PropagateOptions(adapt=5000)))
        list(job.results())
    assert caught.value.code == ErrorCode.INVALID_FIELD and "adapt" in str(caught.value)
    client.close_session(session)
