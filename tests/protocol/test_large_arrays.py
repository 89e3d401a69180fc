"""A 4K plate and a 16-bit 4K matte cross a real ZeroMQ DEALER/ROUTER pair over TCP intact."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import zmq

from protocol import messages as m
from protocol.wire import decode, encode, make, reply

WIDTH, HEIGHT = 4096, 2160
TIMEOUT_MS = 5000


@pytest.fixture
def sockets() -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    """A ROUTER bound to a random local port and a DEALER connected to it."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    dealer = context.socket(zmq.DEALER)
    try:
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an unroutable reply raises instead of vanishing
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        yield router, dealer
    finally:
        router.close(linger=0)
        dealer.close(linger=0)
        context.term()


def receive(socket: zmq.Socket) -> list[zmq.Frame]:
    if not socket.poll(TIMEOUT_MS, zmq.POLLIN):
        pytest.fail(f"nothing arrived within {TIMEOUT_MS} ms")
    return socket.recv_multipart(copy=False)


def test_4k_rgb_frame_crosses_dealer_to_router(sockets):
    router, dealer = sockets
    pixels = np.random.default_rng(4096).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    dealer.send_multipart(encode(make(m.Frame(index=1041, pixels=pixels), session="s1")), copy=False)

    routing_id, *frames = receive(router)
    received = decode(frames).body

    assert routing_id.bytes
    assert received.index == 1041
    assert received.pixels.dtype == np.uint8
    assert received.pixels.shape == (HEIGHT, WIDTH, 3)
    assert np.array_equal(received.pixels, pixels)


def test_4k_uint16_matte_crosses_router_to_dealer(sockets):
    router, dealer = sockets
    dealer.send_multipart(encode(make(m.Ack(received=0), session="s1")), copy=False)
    routing_id, *request_frames = receive(router)
    request = decode(request_frames)

    mattes = np.random.default_rng(2160).integers(0, 65536, size=(1, HEIGHT, WIDTH), dtype=np.uint16)
    result = m.Result(
        frame=1041,
        objects=[m.ObjectResult(id=1, confidence=0.97, lost=False, area=int((mattes > 32767).sum()))],
        mattes=mattes,
        sequence=0,
    )
    router.send_multipart([routing_id, *encode(reply(request, result))], copy=False)

    received = decode(receive(dealer))
    assert received.header.parent == request.header.msg_id
    assert received.body.mattes.dtype == np.uint16
    assert received.body.mattes.shape == (1, HEIGHT, WIDTH)
    assert np.array_equal(received.body.mattes, mattes)
