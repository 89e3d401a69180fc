"""Thousands of random and mutated messages from a raw DEALER: the server answers or drops each, and lives.

The inputs are random part lists, and valid encodings of every catalogue sample (tests/protocol/samples.py)
with bytes flipped, parts truncated, dropped, duplicated or swapped, unknown message types, other protocol
versions and header fields replaced. Half of the session-bound messages name a real open session, so the
session handlers see hostile input too, not only the decoder. The generator is seeded, so every run sends the
same bytes.
"""

from __future__ import annotations

import time

import numpy as np
import zmq

from protocol import messages as m
from protocol.client import EngineClient
from tests.engine.server.helpers import propagate_request
from tests.protocol.samples import HEIGHT, WIDTH, encoded, header_map, pack, raw_frames, sample_bodies, unpack

MESSAGES = 10_000
TIME_LIMIT = 60.0


def fuzz_shot() -> m.OpenSession:
    """A session every sample fits: the samples' plate size, their object ids and frame indices."""
    objects = [m.ObjectSpec(id=i, name=f"object {i}") for i in (1, 2, 3, 7)]
    return m.OpenSession(frame_count=240, width=WIDTH, height=HEIGHT, objects=objects, source=m.FrameSource("stream"))


class Mutator:
    def __init__(self, session: str, seed: int = 20240611) -> None:
        self.rng = np.random.default_rng(seed)
        self.valid = [encoded(body)[1] for _, body in sample_bodies()]
        # Messages to the real session, except the one that would close it for the rest of the run.
        self.real = [
            encoded(body, session=session)[1] for _, body in sample_bodies() if body.msg_type != "close_session"
        ]

    def message(self) -> list[bytes]:
        kind = self.rng.integers(8)
        if kind == 0:
            return self.random_parts()
        parts = list(self.pick(self.real if self.rng.random() < 0.5 else self.valid))
        if kind == 1:
            return parts
        if kind == 2:
            return self.flip_bytes(parts)
        if kind == 3:
            return self.truncate(parts)
        if kind == 4:
            return self.reshuffle(parts)
        if kind == 5:
            header = header_map(str(self.pick(["frobnicate", "", "x" * 80, "error", "result", "hello_reply"])))
            return raw_frames(header, {}, parts[3:])
        if kind == 6:
            return [self.pick([b"maskprop/2", b"maskprop/", b"MASKPROP/1"]), *parts[1:]]
        return self.replace_header_field(parts)

    def random_parts(self) -> list[bytes]:
        count = int(self.rng.integers(1, 7))
        return [self.rng.bytes(int(self.rng.choice([0, 1, 8, 64, 300]))) for _ in range(count)]

    def flip_bytes(self, parts: list[bytes]) -> list[bytes]:
        index = int(self.rng.integers(len(parts)))
        data = bytearray(parts[index])
        for _ in range(int(self.rng.integers(1, 4))):
            if data:
                data[int(self.rng.integers(len(data)))] ^= 1 << int(self.rng.integers(8))
        parts[index] = bytes(data)
        return parts

    def truncate(self, parts: list[bytes]) -> list[bytes]:
        index = int(self.rng.integers(len(parts)))
        parts[index] = parts[index][: int(self.rng.integers(len(parts[index]) + 1))]
        return parts

    def reshuffle(self, parts: list[bytes]) -> list[bytes]:
        index = int(self.rng.integers(len(parts)))
        action = self.rng.integers(3)
        if action == 0 and len(parts) > 1:
            del parts[index]
        elif action == 1:
            parts.insert(index, parts[index])
        else:
            other = int(self.rng.integers(len(parts)))
            parts[index], parts[other] = parts[other], parts[index]
        return parts

    def replace_header_field(self, parts: list[bytes]) -> list[bytes]:
        field = str(self.pick(["msg_id", "msg_type", "version", "time", "session", "parent"]))
        value = self.pick([None, -1, 2**63, 1.5, "2.0", "", "x" * 5000, [1], {"a": 1}, b"\x00", True])
        header = unpack(parts[1])
        header[field] = value
        return [parts[0], pack(header), *parts[2:]]

    def pick(self, options: list):
        return options[int(self.rng.integers(len(options)))]


def test_random_and_mutated_messages_never_stop_the_server(start_engine, shot):
    engine = start_engine("--max-sessions", "100000")  # valid open_session samples open many sessions
    with EngineClient(engine.endpoint, timeout=20.0) as client:
        fuzz(engine, client, shot)


def fuzz(engine, client: EngineClient, shot) -> None:
    session = client.open_session(fuzz_shot()).session
    mutator = Mutator(session)
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(engine.endpoint)
    sent = replies = 0
    deadline = time.monotonic() + TIME_LIMIT
    try:
        while sent < MESSAGES:
            assert time.monotonic() < deadline, f"sent only {sent} messages in {TIME_LIMIT:.0f} s"
            try:
                dealer.send_multipart(mutator.message(), flags=zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                dealer.poll(50, zmq.POLLIN)
            replies += drain(dealer)
        while dealer.poll(1000, zmq.POLLIN):
            replies += drain(dealer)
    finally:
        dealer.close()

    assert engine.alive, engine.log()
    assert "Traceback" not in engine.log()  # every input was refused on purpose, none by a failing handler
    assert replies > sent // 2  # most inputs are answered with a reply or an error, not silently dropped
    session = shot.open(client)
    job = client.propagate(session, propagate_request(0, 5), frames=shot.pixels)
    assert [r.frame for r in job.results()] == list(range(6))
    assert job.summary.status == "done"
    client.close_session(session)
    assert engine.alive


def drain(socket: zmq.Socket) -> int:
    count = 0
    while True:
        try:
            socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return count
        count += 1
