"""Bad frames in a stream: an unrequested one is refused on its own, an invalid requested one fails the propagate."""

from __future__ import annotations

import numpy as np
import zmq

from protocol import messages as m
from protocol.wire import Message, decode, encode, make
from tests.engine.server.helpers import propagate_request


def test_a_requested_frame_of_the_wrong_size_fails_the_propagate(client, shot):
    session = shot.open(client)

    def frames(index: int) -> np.ndarray:
        return shot.pixels(index)[:-2] if index == 2 else shot.pixels(index)

    job = client.propagate(session, propagate_request(0, 5), frames=frames)
    results = list(job.results())
    assert job.summary.status == "failed"
    assert job.summary.error.code == "invalid_field"
    assert job.summary.frames == len(results) < 6
    assert client.status(session).session.state == "idle"
    client.close_session(session)


class RawClient:
    """A DEALER speaking the protocol by hand, to send what `EngineClient` never would."""

    def __init__(self, endpoint: str) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(endpoint)

    def send(self, body, session: str = "", parent: str = "") -> Message:
        message = make(body, session=session, parent=parent)
        self.socket.send_multipart(encode(message), copy=False)
        return message

    def receive(self, msg_type: str) -> Message:
        """The next message of `msg_type`, skipping others; fails after 20 s of waiting."""
        while self.socket.poll(20_000):
            message = decode(self.socket.recv_multipart())
            if message.msg_type == msg_type:
                return message
        raise AssertionError(f"no {msg_type} arrived")


def test_an_unrequested_frame_is_refused_and_the_propagate_goes_on(engine, shot):
    raw = RawClient(engine.endpoint)
    try:
        raw.send(shot.open_request())
        session = raw.receive("open_session_reply").body.session
        raw.send(m.Keyframe(frame=0, labels=shot.labels), session=session)
        raw.receive("keyframe_reply")
        propagate = raw.send(propagate_request(0, 1, window=8), session=session)
        request = raw.receive("frame_request").body
        assert request.indices == [0, 1]

        stray = raw.send(m.Frame(index=5, pixels=shot.pixels(5)), session=session, parent=propagate.header.msg_id)
        error = raw.receive("error")
        assert (error.body.code, error.header.parent) == ("invalid_state", stray.header.msg_id)

        for index in request.indices:
            raw.send(m.Frame(index=index, pixels=shot.pixels(index)), session=session, parent=propagate.header.msg_id)
        summary = raw.receive("summary").body
        assert (summary.status, summary.frames) == ("done", 2)
    finally:
        raw.socket.close()
