"""Streamed frames: the planned access order is what the propagator reads, and arrivals are stored by it."""

from __future__ import annotations

import numpy as np
import pytest

from engine.io.view import STANDARD, DisplayView
from engine.model import AFBURR
from engine.model.parity_weights import load_parity_weights
from engine.propagation.propagator import Propagator, Settings
from engine.server.streamed import READS_PER_STEP, StreamedFrames, access_order, frame_pixels
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError
from tests.paths import FIXTURES

HEIGHT, WIDTH, COUNT = 32, 32, 9


@pytest.fixture(scope="module")
def model() -> AFBURR:
    return load_parity_weights(AFBURR()).eval()


class RecordingFrames(list):
    """Frames that remember the index of every read."""

    def __init__(self, frames) -> None:
        super().__init__(frames)
        self.reads: list[int] = []

    def __getitem__(self, index):
        self.reads.append(index)
        return super().__getitem__(index)


@pytest.mark.parametrize(
    ("keyframes", "first", "last", "direction", "adapt"),
    [
        ([8], 0, 8, "backward", 0),
        ([3], 5, 7, "forward", 0),
        ([1, 4, 7], 2, 8, "both", 0),
        ([4], 0, 8, "both", 0),
        ([7, 1, 4], 2, 8, "both", 2),
    ],
)
def test_the_propagator_reads_the_access_order_at_most_two_frames_a_step(
    model, keyframes, first, last, direction, adapt
):
    frames = RecordingFrames(np.random.default_rng(0).integers(0, 256, (COUNT, HEIGHT, WIDTH, 3), dtype=np.uint8))
    labels = np.zeros((HEIGHT, WIDTH), np.uint8)
    labels[8:20, 8:20] = 1
    propagator = Propagator(model, frames, [1], Settings(max_size=0, adapt=adapt))
    frames.reads.clear()  # the constructor reads frame 0 for the plate size only
    before = 0
    for _ in propagator.steps(dict.fromkeys(keyframes, labels), first, last, direction):
        assert len(frames.reads) - before <= READS_PER_STEP
        before = len(frames.reads)
    assert frames.reads == access_order(keyframes, first, last, direction, adapt > 0).tolist()


def test_requests_stay_within_the_window_and_reads_follow_the_order():
    order = access_order([2, 6], 0, 8, "both")
    assert order.tolist() == [2, 1, 0, 2, 3, 4, 5, 6, 5, 4, 3, 6, 7, 8]
    frames = StreamedFrames(order, COUNT, (HEIGHT, WIDTH), window=3)
    assert frames.take_requests() == [2, 1, 0]
    assert frames.take_requests() == []
    assert not frames.ready()
    for index in (1, 2):
        frames.fill(frames.slot(index), np.full((HEIGHT, WIDTH, 3), index, np.uint8))
    assert frames.slot(7) is None  # not requested
    assert frames.ready()
    assert frames[2][0, 0, 0] == 2
    with pytest.raises(RuntimeError, match="out of the planned order"):
        frames[0]
    assert frames[1][0, 0, 0] == 1
    assert frames.take_requests() == [2, 3]
    assert frames.stored == 0


def test_a_frame_read_twice_is_requested_twice():
    order = access_order([0, 2], 0, 2, "both")
    assert order.tolist() == [0, 1, 2, 1]
    frames = StreamedFrames(order, 3, (HEIGHT, WIDTH), window=4)
    assert frames.take_requests() == [0, 1, 2, 1]
    first, second = frames.slot(1), None
    frames.fill(first, np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    second = frames.slot(1)
    assert (first, second) == (1, 3)


def pixels(values: np.ndarray, colorspace: str = "srgb") -> np.ndarray:
    return frame_pixels(m.Frame(index=0, pixels=values, colorspace=colorspace), values.shape[:2])


def test_frames_of_every_dtype_become_display_srgb_bytes():
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pixels(rgb), rgb)
    np.testing.assert_array_equal(pixels(np.dstack([rgb, np.zeros((4, 5), np.uint8)])), rgb)
    np.testing.assert_array_equal(pixels(rgb[:, :, :1]), np.repeat(rgb[:, :, :1], 3, axis=2))
    np.testing.assert_array_equal(pixels(rgb.astype(np.uint16) * 257), rgb)
    np.testing.assert_array_equal(pixels((rgb / 255).astype(np.float32)), rgb)
    linear = np.random.default_rng(2).random((4, 5, 3), dtype=np.float32)
    np.testing.assert_array_equal(
        pixels(linear.astype(np.float16), "linear"), STANDARD.encode(linear.astype(np.float16))
    )
    assert pixels(rgb).flags.writeable and pixels(rgb).flags.owndata


def test_a_frame_of_another_size_is_invalid_field():
    with pytest.raises(ProtocolError) as refused:
        frame_pixels(m.Frame(index=3, pixels=np.zeros((4, 5, 3), np.uint8)), (5, 4))
    assert refused.value.code == ErrorCode.INVALID_FIELD


def test_linear_frames_go_through_the_sessions_view():
    dim = DisplayView(view="Dim", config=str(FIXTURES / "ocio" / "config.ocio"))
    linear = np.random.default_rng(3).random((4, 5, 3), dtype=np.float32) * 2
    frame = m.Frame(index=0, pixels=linear.astype(np.float16), colorspace="linear")
    np.testing.assert_array_equal(frame_pixels(frame, (4, 5), dim), dim.encode(linear.astype(np.float16)))
    rgb = np.random.default_rng(4).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(frame_pixels(m.Frame(index=0, pixels=rgb), (4, 5), dim), rgb)  # bytes as stored
