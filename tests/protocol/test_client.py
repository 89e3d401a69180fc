"""EngineClient against a real ZeroMQ peer: handshake, errors, streaming, flow control, cancel, liveness."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from protocol import messages as m
from protocol.client import EngineClient
from protocol.curve import CurveKeys
from protocol.errors import ErrorCode, ProtocolError
from protocol.version import PROTOCOL_VERSION
from tests.protocol.scripted_engine import SESSION, ScriptedEngine, frame_pixels, open_session_request

FAST = {"timeout": 2.0, "heartbeat_interval": 0.1, "heartbeat_liveness": 3}


@pytest.fixture
def engine():
    with ScriptedEngine() as peer:
        yield peer


@pytest.fixture
def client(engine):
    with EngineClient(engine.endpoint, **FAST) as connection:
        yield connection


def start_streaming(client: EngineClient, frame_count: int = 6, window: int = 2) -> object:
    session = client.open_session(open_session_request(frame_count)).session
    request = m.Propagate(first=0, last=frame_count - 1, direction="forward", window=window)
    return client.propagate(session, request, frames=frame_pixels)


def test_hello_returns_the_engines_info(client):
    info = client.hello()
    assert info.protocol_version == PROTOCOL_VERSION
    assert info.capabilities.frame_window == 2
    assert client.engine is info


def test_hello_raises_version_mismatch_when_the_engine_speaks_another_major():
    with ScriptedEngine(tag=b"maskprop/2") as peer, EngineClient(peer.endpoint, **FAST) as client:
        start = time.monotonic()
        with pytest.raises(ProtocolError) as caught:
            client.hello()
    assert caught.value.code is ErrorCode.VERSION_MISMATCH
    assert "2" in caught.value.message
    assert time.monotonic() - start < FAST["timeout"]  # recognised at once, not by timing out


def test_a_request_to_a_silent_engine_times_out():
    with (
        ScriptedEngine(silent=True) as peer,
        EngineClient(peer.endpoint, **FAST) as client,
        pytest.raises(ProtocolError) as caught,
    ):
        client.hello(timeout=0.3)
    assert caught.value.code is ErrorCode.TIMEOUT
    assert caught.value.retryable


def test_a_request_with_no_engine_listening_times_out():
    context = zmq.Context.instance()
    probe = context.socket(zmq.ROUTER)
    port = probe.bind_to_random_port("tcp://127.0.0.1")
    probe.close(linger=0)  # a port that nothing listens on now
    with EngineClient(f"tcp://127.0.0.1:{port}", **FAST) as client, pytest.raises(ProtocolError) as caught:
        client.ping(timeout=0.3)
    assert caught.value.code is ErrorCode.TIMEOUT


def test_an_error_reply_is_raised_with_its_code(client):
    keyframe = m.Keyframe(frame=0, labels=np.ones((24, 32), np.uint8))
    with pytest.raises(ProtocolError) as caught:
        client.keyframe("no-such-session", keyframe)
    assert caught.value.code is ErrorCode.UNKNOWN_SESSION
    assert not caught.value.retryable


def test_a_streamed_propagation_yields_one_result_per_frame_in_order(engine, client):
    job = start_streaming(client, frame_count=6)
    results = list(job.results())
    assert [r.frame for r in results] == list(range(6))
    assert [r.sequence for r in results] == list(range(6))
    for result in results:  # the scripted engine's matte is the streamed frame's bright columns
        expected = np.zeros((24, 32), np.uint16)
        expected[:, : result.frame + 1] = 65535
        np.testing.assert_array_equal(result.mattes[0], expected)
    assert job.summary.status == "done"
    assert job.expected_frames == 6
    assert engine.types_received().count("frame") == 6
    assert all(message.header.session == SESSION for message in engine.received if message.msg_type == "frame")


def test_results_are_acknowledged_so_the_engine_never_runs_more_than_the_window_ahead(engine, client):
    def acks() -> list[int]:
        return [message.body.received for message in engine.received if message.msg_type == "ack"]

    list(start_streaming(client, frame_count=8, window=2).results())
    client.wait_until(lambda: 8 in acks(), timeout=2)
    assert acks() == sorted(acks())
    assert engine.max_unacked <= 2


def test_a_caller_that_stops_taking_results_stops_the_engine_at_the_window(engine, client):
    job = start_streaming(client, frame_count=8, window=3)
    client.wait_until(lambda: engine.sent_results >= 3, timeout=5)
    for _ in range(20):  # the client keeps its socket serviced but takes nothing
        client.poll()
        time.sleep(0.01)
    assert engine.sent_results == 3
    assert len(job.take()) == 3  # taking them acknowledges them and the stream resumes
    assert len(list(job.results())) == 5


def test_poll_never_blocks_while_the_engine_is_busy():
    with ScriptedEngine(seconds_per_frame=0.2) as peer, EngineClient(peer.endpoint, **FAST) as client:
        job = start_streaming(client, frame_count=3)
        taken, slowest = [], 0.0
        deadline = time.monotonic() + 10
        while not job.done and time.monotonic() < deadline:
            start = time.monotonic()
            taken += job.take()
            slowest = max(slowest, time.monotonic() - start)
            time.sleep(0.02)
    assert [r.frame for r in taken] == [0, 1, 2]
    assert slowest < 0.1  # a UI timer firing every 0.1 s is never held up by the engine's 0.2 s frames


def test_cancel_ends_the_stream_between_frames_and_the_connection_stays_usable():
    with ScriptedEngine(seconds_per_frame=0.05) as peer, EngineClient(peer.endpoint, **FAST) as client:
        job = start_streaming(client, frame_count=40)
        taken = []
        for result in job.results():
            taken.append(result)
            if len(taken) == 2:
                job.cancel()
        assert job.summary.status == "cancelled"
        assert 2 <= len(taken) < 40
        assert "cancel" in peer.types_received()
        assert client.ping() >= 0


def test_an_engine_that_vanishes_mid_stream_is_detected_by_heartbeat():
    with ScriptedEngine(vanish_after=2) as peer, EngineClient(peer.endpoint, **FAST) as client:
        job = start_streaming(client, frame_count=6)
        taken = []
        start = time.monotonic()
        with pytest.raises(ProtocolError) as caught:
            for result in job.results():
                taken.append(result)
    assert caught.value.code is ErrorCode.PEER_GONE
    assert caught.value.retryable
    assert len(taken) == 2
    assert time.monotonic() - start < 3.0  # about liveness x interval = 0.3 s after the last result


def test_a_failing_frame_reader_fails_the_job_and_tells_the_engine(engine, client):
    def broken(index: int) -> np.ndarray:
        raise OSError("disk on fire")

    session = client.open_session(open_session_request()).session
    job = client.propagate(session, m.Propagate(first=0, last=5), frames=broken)
    with pytest.raises(ProtocolError) as caught:
        list(job.results())
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert "disk on fire" in caught.value.message
    client.wait_until(lambda: "cancel" in engine.types_received(), timeout=2)


def test_closing_the_client_fails_outstanding_work(engine):
    client = EngineClient(engine.endpoint, **FAST)
    job = start_streaming(client, frame_count=4)
    client.close()
    with pytest.raises(ProtocolError) as caught:
        job.take()
    assert caught.value.code is ErrorCode.PEER_GONE


def test_an_unreachable_endpoint_string_is_a_clear_error():
    with pytest.raises(ProtocolError) as caught:
        EngineClient("not-an-endpoint")
    assert "not-an-endpoint" in caught.value.message


def test_curve_client_with_the_engines_key_is_served_and_one_with_another_key_is_not():
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    impostor_public, _ = zmq.curve_keypair()
    with ScriptedEngine(curve_secret_key=server_secret, curve_public_key=server_public) as peer:
        keys = CurveKeys(server_public, client_public, client_secret)
        with EngineClient(peer.endpoint, curve=keys, **FAST) as client:
            assert client.hello().device == "cpu"
        wrong = CurveKeys(impostor_public, client_public, client_secret)
        with EngineClient(peer.endpoint, curve=wrong, **FAST) as client, pytest.raises(ProtocolError) as caught:
            client.hello(timeout=0.5)
        assert caught.value.code is ErrorCode.TIMEOUT
        assert "secret" not in repr(keys) and client_secret.decode() not in repr(keys)


def test_curve_keys_load_from_certificate_files(tmp_path):
    import zmq.auth

    server_public_file, _ = zmq.auth.create_certificates(str(tmp_path), "engine")
    _, client_secret_file = zmq.auth.create_certificates(str(tmp_path), "artist")
    keys = CurveKeys.from_files(server_public_file, client_secret_file)
    assert len(keys.server_public) == 40 and len(keys.client_secret) == 40
    with pytest.raises(ProtocolError) as caught:
        CurveKeys.from_files(server_public_file, server_public_file)
    assert "secret" in caught.value.message
    with pytest.raises(ProtocolError) as caught:
        CurveKeys.from_files(tmp_path / "missing.key", client_secret_file)
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_a_frame_that_cannot_be_sent_fails_its_job_and_leaves_the_client_usable(engine, client):
    session = client.open_session(open_session_request()).session
    job = client.propagate(session, m.Propagate(first=0, last=5), frames=lambda index: np.zeros((24, 32, 3)))
    with pytest.raises(ProtocolError) as caught:
        list(job.results())
    assert "float64" in caught.value.message
    assert client.ping() >= 0  # the unsendable frame did not stay stuck in the send queue


def test_a_request_to_an_engine_that_died_after_answering_ends_by_heartbeat_not_timeout():
    with ScriptedEngine() as peer, EngineClient(peer.endpoint, **{**FAST, "timeout": 30.0}) as client:
        client.hello()
        peer.silent = True  # alive as a socket, dead as an engine: a hung or killed process behind the port
        start = time.monotonic()
        with pytest.raises(ProtocolError) as caught:
            client.status()
    assert caught.value.code is ErrorCode.PEER_GONE
    assert time.monotonic() - start < 3.0  # liveness x interval = 0.3 s, not the request's 30 s


def test_an_engine_restarted_at_the_same_endpoint_fails_the_waiting_job_at_once():
    """The new engine answers pings, so silence never shows the restart; its new engine_id does."""
    slow_to_give_up = {"timeout": 5.0, "heartbeat_interval": 0.2, "heartbeat_liveness": 25}
    with ScriptedEngine(engine_id="first", vanish_after=1) as first:
        client = EngineClient(first.endpoint, **slow_to_give_up)
        client.hello()
        job = start_streaming(client, frame_count=6)
        client.wait_until(lambda: job.taken + len(job.take()) >= 1, timeout=10)
        port = first.port
    with ScriptedEngine(engine_id="second", port=port), client:
        start = time.monotonic()
        client.wait_until(lambda: job.error is not None, timeout=10)  # bounded: a regression fails, never hangs
        assert job.error.code is ErrorCode.PEER_GONE and "restarted" in job.error.message
        assert time.monotonic() - start < 2.5  # at the first pong, long before 25 silent intervals (5 s)
        assert client.hello().engine_id == "second"  # the connection itself goes on, to the new engine


def test_a_request_after_a_quiet_spell_is_not_taken_for_a_dead_engine():
    """Silence while the client asked for nothing says nothing about the engine: a later request is answered."""
    with ScriptedEngine() as peer, EngineClient(peer.endpoint, **FAST) as client:
        client.hello()
        time.sleep(FAST["heartbeat_interval"] * FAST["heartbeat_liveness"] * 2)  # idle, not polling
        assert client.ping() >= 0
