"""Every message of the catalogue survives encode -> bytes -> decode unchanged."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import zmq

from protocol import messages as m
from protocol.messages import CATALOGUE
from protocol.version import TAG
from protocol.wire import Message, decode, encode, make, reply
from tests.protocol.samples import (
    PARENT,
    SAMPLES,
    SESSION,
    encoded,
    pack,
    sample,
    sample_bodies,
    to_bytes,
    unpack,
)

ALL_SAMPLES = [pytest.param(body, id=name) for name, body in sample_bodies()]
ARRAY_SAMPLES = [
    pytest.param(body, id=name)
    for name, body in sample_bodies()
    if len(encode(make(body))) > 3  # the body carries at least one array
]


def assert_same(expected: Any, actual: Any, path: str) -> None:
    """Field by field equality that also checks types, dtypes and shapes, naming the first difference."""
    if dataclasses.is_dataclass(expected):
        assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
        for field in dataclasses.fields(expected):
            assert_same(getattr(expected, field.name), getattr(actual, field.name), f"{path}.{field.name}")
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{path}: not an array but {type(actual).__name__}"
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{path}: shape {actual.shape} != {expected.shape}"
        assert np.array_equal(actual, expected), f"{path}: values differ"
    elif isinstance(expected, list):
        assert type(actual) is list, f"{path}: not a list but {type(actual).__name__}"
        assert len(actual) == len(expected), f"{path}: {len(actual)} items != {len(expected)}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_same(want, got, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert type(actual) is dict, f"{path}: not a dict but {type(actual).__name__}"
        assert actual.keys() == expected.keys(), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key, want in expected.items():
            assert_same(want, actual[key], f"{path}[{key!r}]")
    else:
        assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def assert_same_message(expected: Message, actual: Message) -> None:
    assert isinstance(actual, Message)
    assert_same(expected.header, actual.header, "header")
    assert_same(expected.body, actual.body, "body")


# How a receiver may hold the frames: bytes (recv_multipart with copy=True), memoryviews, zmq.Frame
# (copy=False), or the encoder's own output handed over without a socket.
FRAME_KINDS: dict[str, Callable[[list[bytes]], list[Any]]] = {
    "bytes": lambda frames: frames,
    "memoryview": lambda frames: [memoryview(frame) for frame in frames],
    "zmq.Frame": lambda frames: [zmq.Frame(frame) for frame in frames],
}


def test_every_catalogue_type_has_a_sample():
    assert set(SAMPLES) == set(CATALOGUE)


@pytest.mark.parametrize("msg_type", sorted(SAMPLES))
def test_samples_build_bodies_of_their_type(msg_type):
    bodies = SAMPLES[msg_type]()
    assert bodies
    assert all(type(body) is CATALOGUE[msg_type].body for body in bodies)


@pytest.mark.parametrize("kind", sorted(FRAME_KINDS))
@pytest.mark.parametrize("body", ALL_SAMPLES)
def test_message_round_trips_through_received_frames(body, kind):
    message, frames = encoded(body, session=SESSION, parent=PARENT)
    decoded = decode(FRAME_KINDS[kind](frames))
    assert_same_message(message, decoded)


@pytest.mark.parametrize("body", ALL_SAMPLES)
def test_encoded_frames_decode_without_a_socket(body):
    # Includes empty arrays of 2 and 3 axes, whose memoryviews cannot be cast to bytes directly.
    message = make(body, session=SESSION, parent=PARENT)
    assert_same_message(message, decode(encode(message)))


@pytest.mark.parametrize("body", ALL_SAMPLES)
def test_frames_are_tag_header_body_then_one_buffer_per_descriptor(body):
    _, frames = encoded(body)
    assert frames[0] == TAG

    descriptors: list[dict[str, Any]] = []

    def collect(data: Any) -> None:
        if isinstance(data, dict):
            if "buffer" in data and "dtype" in data:
                descriptors.append(data)
            else:
                for value in data.values():
                    collect(value)
        elif isinstance(data, list):
            for item in data:
                collect(item)

    collect(unpack(frames[2]))
    assert sorted(d["buffer"] for d in descriptors) == list(range(len(frames) - 3))
    assert all(d["nbytes"] == len(frames[3 + d["buffer"]]) for d in descriptors)


@pytest.mark.parametrize(
    ("body", "unset"),
    [
        pytest.param(sample("result", 1), ("labels", "uncertainty", "contours"), id="result-bare"),
        pytest.param(sample("keyframe", 0), ("mattes",), id="keyframe-labels"),
        pytest.param(sample("keyframe", 1), ("labels",), id="keyframe-mattes"),
        pytest.param(sample("status_reply", 1), ("session",), id="status_reply-no-session"),
        pytest.param(sample("summary", 1), ("error",), id="summary-no-error"),
    ],
)
def test_unset_optional_fields_decode_as_none(body, unset):
    _, frames = encoded(body)
    decoded = decode(frames).body
    assert [getattr(decoded, name) for name in unset] == [None] * len(unset)


def test_result_with_every_optional_field_keeps_them():
    body = sample("result", 0)
    assert body.labels is not None and body.uncertainty is not None and body.contours
    _, frames = encoded(body)
    assert_same(body, decode(frames).body, "body")


@pytest.mark.parametrize("kind", sorted(FRAME_KINDS))
def test_decoded_arrays_are_read_only(kind):
    # A zmq.Frame from recv_multipart(copy=False) has a writable buffer; the decoded views must not be.
    _, frames = encoded(sample("result", 0))
    arrays = _arrays(decode(FRAME_KINDS[kind](frames)).body)
    assert len(arrays) == 5  # mattes, labels, uncertainty and two objects' contour points
    for array in arrays:
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array.flat[:1] = 0


@pytest.mark.parametrize("body", ARRAY_SAMPLES)
def test_decoded_arrays_are_views_of_the_received_buffers(body):
    _, frames = encoded(body)
    decoded = decode(frames).body
    buffers = [np.frombuffer(frame, dtype=np.uint8) for frame in frames[3:]]
    for array in _arrays(decoded):
        if array.size:
            assert any(np.shares_memory(array, buffer) for buffer in buffers)


def _arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if dataclasses.is_dataclass(value):
        return [a for field in dataclasses.fields(value) for a in _arrays(getattr(value, field.name))]
    if isinstance(value, list):
        return [a for item in value for a in _arrays(item)]
    return []


def _add_field(data: dict[str, Any], path: tuple[str | int, ...]) -> None:
    for key in path:
        data = data[key]
    data["added_by_a_newer_peer"] = {"nested": [1, 2.5, "x", None, b"\x00"], "flag": True}


@pytest.mark.parametrize(
    ("body", "frame", "path"),
    [
        pytest.param(sample("hello"), 1, (), id="header"),
        pytest.param(sample("hello"), 2, (), id="body"),
        pytest.param(sample("propagate"), 2, ("options",), id="nested-record"),
        pytest.param(sample("result"), 2, ("objects", 1), id="record-in-a-list"),
        pytest.param(sample("result"), 2, ("mattes",), id="array-descriptor"),
        pytest.param(sample("summary"), 2, ("error",), id="optional-record"),
    ],
)
def test_unknown_fields_are_ignored(body, frame, path):
    message, frames = encoded(body)
    data = unpack(frames[frame])
    _add_field(data, path)
    frames[frame] = pack(data)
    assert_same_message(message, decode(frames))


@pytest.mark.parametrize("dtype", [">u2", ">f2", ">f4"])
def test_big_endian_frames_are_sent_little_endian(dtype):
    rng = np.random.default_rng(7)
    pixels = (rng.random((5, 7, 3)) * 1000).astype(dtype)
    assert pixels.dtype.byteorder == ">"
    _, frames = encoded(m.Frame(index=1, pixels=pixels))
    assert frames[3] == pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    decoded = decode(frames).body.pixels
    assert decoded.dtype == pixels.dtype.newbyteorder("<")
    assert np.array_equal(decoded, pixels)


def test_big_endian_mattes_arrive_with_their_values():
    mattes = np.random.default_rng(8).integers(0, 65536, size=(2, 4, 6), dtype=np.uint16).astype(">u2")
    objects = [m.ObjectResult(id=i, confidence=0.5, lost=False, area=1) for i in (1, 2)]
    _, frames = encoded(m.Result(frame=0, objects=objects, mattes=mattes, sequence=0))
    decoded = decode(frames).body.mattes
    assert decoded.dtype == np.dtype("<u2")
    assert np.array_equal(decoded, mattes)


@pytest.mark.parametrize(
    "view",
    [
        pytest.param(lambda a: a[::2, ::-1], id="strided"),
        pytest.param(lambda a: np.asfortranarray(a), id="fortran-order"),
        pytest.param(lambda a: a.transpose(1, 0, 2), id="transposed"),
    ],
)
def test_non_contiguous_arrays_are_sent_in_c_order(view):
    pixels = view(np.random.default_rng(9).integers(0, 256, size=(8, 8, 3), dtype=np.uint8))
    _, frames = encoded(m.Frame(index=2, pixels=pixels))
    assert frames[3] == np.ascontiguousarray(pixels).tobytes()
    assert np.array_equal(decode(frames).body.pixels, pixels)


def test_reply_answers_in_the_requests_session_with_the_request_as_parent():
    request = make(sample("propagate"), session=SESSION)
    answer = reply(request, m.PropagateReply(frames=240))
    decoded = decode([to_bytes(frame) for frame in encode(answer)])
    assert (decoded.header.session, decoded.header.parent) == (SESSION, request.header.msg_id)
    assert decoded.header.msg_id != request.header.msg_id
    assert decoded.msg_type == "propagate_reply"
