"""A session belongs to the client that opened it, and a client that crashes frees its sessions in seconds.

Without CurveZMQ a client is its connection; with it, its key (tests/engine/server/test_security.py covers the keys).
"""

from __future__ import annotations

import pytest

from engine.logs import session_tag
from protocol import messages as m
from protocol.client import EngineClient
from protocol.errors import ErrorCode, ProtocolError
from tests.engine.server.helpers import propagate_request, wait_for


def _refused(call) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        call()
    return refused.value


def test_another_client_naming_a_session_is_told_it_does_not_exist(engine, shot):
    with EngineClient(engine.endpoint, timeout=20.0) as owner, EngineClient(engine.endpoint, timeout=20.0) as other:
        session = shot.open(owner)
        for call in (
            lambda: other.keyframe(session, m.Keyframe(frame=1, labels=shot.labels)),
            lambda: list(other.propagate(session, propagate_request(0, 2), frames=shot.pixels).results()),
            lambda: other.status(session),
            lambda: other.close_session(session),
        ):
            error = _refused(call)
            assert error.code == ErrorCode.UNKNOWN_SESSION and "is not open" in str(error)
        job = owner.propagate(session, propagate_request(0, 2), frames=shot.pixels)
        assert len(list(job.results())) == 3 and job.summary.status == "done"  # untouched, still the owner's
        owner.close_session(session)
    assert session not in engine.log() and session_tag(session) in engine.log()  # the log names it by a hash only


def test_a_crashed_clients_sessions_are_freed_after_the_grace_not_the_idle_timeout(start_engine, shot):
    engine = start_engine("--max-sessions", "1", "--client-grace", "1", "--idle-timeout", "600")
    crashed = EngineClient(engine.endpoint, timeout=20.0)
    shot.open(crashed)
    crashed.close()  # gone without closing its session, as a crashed Blender is
    with EngineClient(engine.endpoint, timeout=20.0) as other:
        assert _refused(lambda: other.open_session(shot.open_request())).code == ErrorCode.BUSY
        assert wait_for(lambda: other.status().sessions == 0, timeout=10), engine.log()
        other.close_session(other.open_session(shot.open_request()).session)


def test_one_client_cannot_take_every_slot(start_engine, shot):
    engine = start_engine("--max-sessions", "3", "--max-sessions-per-client", "2")
    with EngineClient(engine.endpoint, timeout=20.0) as greedy, EngineClient(engine.endpoint, timeout=20.0) as other:
        opened = [greedy.open_session(shot.open_request()).session for _ in range(2)]
        error = _refused(lambda: greedy.open_session(shot.open_request()))
        assert error.code == ErrorCode.BUSY and "limit per client is 2" in str(error)
        assert error.details["retry_after"] >= 1.0
        other.close_session(other.open_session(shot.open_request()).session)
        for session in opened:
            greedy.close_session(session)
