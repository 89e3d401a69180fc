"""Stopping the server: SIGTERM during a propagate ends the stream, closes the sockets and exits 0."""

from __future__ import annotations

import signal
import time

import pytest

from protocol.client import EngineClient
from protocol.errors import ErrorCode, ProtocolError
from tests.engine.server.helpers import propagate_request


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_propagate_stops_cleanly(start_engine, shot, sig):
    engine = start_engine()
    with EngineClient(engine.endpoint, timeout=20.0, heartbeat_interval=0.5) as client:
        job = client.propagate(shot.open(client), propagate_request(window=1), frames=shot.pixels)
        next(job.results())
        engine.process.send_signal(sig)
        stopped = time.monotonic()
        try:
            list(job.results())
        except ProtocolError as error:
            assert error.code == ErrorCode.PEER_GONE
        else:
            assert job.summary.status == "cancelled"
        assert engine.process.wait(15) == 0, engine.log()
        assert time.monotonic() - stopped < 15
    log = engine.log()
    assert "stopping" in log and "stopped" in log
    assert "reason=shutdown" in log


def test_an_engine_told_to_exit_when_unused_stops_once_its_last_session_closes(start_engine, shot):
    engine = start_engine("--exit-when-unused", "1.5")
    with EngineClient(engine.endpoint, timeout=20.0, heartbeat_interval=0.5) as client:
        session = shot.open(client)
        time.sleep(2.5)  # a session is open: the engine stays, whatever the silence
        assert engine.alive, engine.log()
        client.close_session(session)
    assert engine.process.wait(15) == 0, engine.log()
    assert "unused: stopping" in engine.log()
