"""Malformed input of each kind is refused with the right `ProtocolError` code, naming the offending field."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np
import pytest

from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.schema import DTYPES
from protocol.version import TAG
from protocol.wire import decode, encode, make
from tests.protocol.samples import HEIGHT, WIDTH, encoded, header_map, pack, sample, unpack

BAD_MESSAGE = ErrorCode.BAD_MESSAGE
VERSION_MISMATCH = ErrorCode.VERSION_MISMATCH
INVALID_FIELD = ErrorCode.INVALID_FIELD
TOO_LARGE = ErrorCode.TOO_LARGE

DELETE = object()  # as an edit's value: remove the key


Edit = tuple[tuple[str | int, ...], Any]


def edited(msg_type: str, *edits: Edit, index: int = 0, buffers: list[bytes] | None = None) -> list[bytes]:
    """The frames of a sample message with its body edited: (path, value) sets a key, (path, DELETE) removes it."""
    _, frames = encoded(sample(msg_type, index))
    body = unpack(frames[2])
    for path, value in edits:
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return [frames[0], frames[1], pack(body), *(frames[3:] if buffers is None else buffers)]


def with_header(header: Any, msg_type: str = "hello") -> list[bytes]:
    """The frames of a sample message under another header (plain data, packed as it is)."""
    _, frames = encoded(sample(msg_type))
    return [frames[0], pack(header), *frames[2:]]


def header_without(key: str) -> dict[str, Any]:
    header = header_map("hello")
    del header[key]
    return header


def descriptor(buffer: int, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"buffer": buffer, "dtype": dtype, "shape": shape, "nbytes": math.prod(shape) * DTYPES[dtype].itemsize}


def nested(depth: int) -> Any:
    """A list `depth` levels deep around None."""
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


def assert_refused(frames: list[Any], code: ErrorCode, field: str | None, limits: Limits = DEFAULT_LIMITS) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frames, limits)
    error = info.value
    assert error.code == code, repr(error)
    if field is not None:
        assert error.details.get("field") == field, repr(error)
        assert field in error.message


def case(name: str, frames: list[Any], code: ErrorCode, field: str | None = None, **limits: int) -> Any:
    return pytest.param(frames, code, field, Limits(**limits), id=name)


CASE_FIELDS = ("frames", "code", "field", "limits")
HELLO = encoded(sample("hello"))[1]
FRAME = encoded(sample("frame"))[1]  # 18x32x3 uint8 pixels in buffer 0
PIXELS = ("pixels",)


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("no-frames", [], BAD_MESSAGE),
        case("tag-only", [TAG], BAD_MESSAGE),
        case("tag-and-header", HELLO[:2], BAD_MESSAGE),
        case("foreign-tag", [b"ZMTP/3.1", *HELLO[1:]], BAD_MESSAGE),
        case("empty-tag", [b"", *HELLO[1:]], BAD_MESSAGE),
        case("tag-without-slash", [b"maskprop1", *HELLO[1:]], BAD_MESSAGE),
        case("tag-of-major-2", [b"maskprop/2", *HELLO[1:]], VERSION_MISMATCH),
        case("tag-of-major-10", [b"maskprop/10", *HELLO[1:]], VERSION_MISMATCH),
        case("frame-is-a-str", [TAG, HELLO[1], "client"], BAD_MESSAGE),
        case("frame-is-none", [TAG, HELLO[1], None], BAD_MESSAGE),
        case("header-never-used-byte", [TAG, b"\xc1", HELLO[2]], BAD_MESSAGE),
        case("header-truncated", [TAG, HELLO[1][:-3], HELLO[2]], BAD_MESSAGE),
        case("header-empty", [TAG, b"", HELLO[2]], BAD_MESSAGE),
        case("header-trailing-bytes", [TAG, HELLO[1] + b"\xc0", HELLO[2]], BAD_MESSAGE),
        case("body-truncated", [TAG, HELLO[1], HELLO[2][:-1]], BAD_MESSAGE),
        case("body-invalid-utf8", [TAG, HELLO[1], b"\x81\xa6client\xa2\xff\xfe"], BAD_MESSAGE),
    ],
)
def test_malformed_framing_is_refused(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("version-2.0", with_header(header_map("hello", version="2.0")), VERSION_MISMATCH),
        case("version-10.1", with_header(header_map("hello", version="10.1")), VERSION_MISMATCH),
        case("not-a-map", with_header(["hello", "1.0"]), INVALID_FIELD, "header"),
        case("nil", with_header(None), INVALID_FIELD, "header"),
        case("missing-msg-id", with_header(header_without("msg_id")), INVALID_FIELD, "header.msg_id"),
        case("missing-msg-type", with_header(header_without("msg_type")), INVALID_FIELD, "header.msg_type"),
        case("missing-version", with_header(header_without("version")), INVALID_FIELD, "header.version"),
        case("msg-id-not-a-string", with_header(header_map("hello", msg_id=7)), INVALID_FIELD, "header.msg_id"),
        case("version-not-a-string", with_header(header_map("hello", version=1.0)), INVALID_FIELD, "header.version"),
        case("time-nan", with_header(header_map("hello", time=math.nan)), INVALID_FIELD, "header.time"),
        case("time-negative", with_header(header_map("hello", time=-1.0)), INVALID_FIELD, "header.time"),
        case("session-not-a-string", with_header(header_map("hello", session=None)), INVALID_FIELD, "header.session"),
        case("ext-type", with_header(header_map("hello", x=msgpack.ExtType(1, b"z"))), BAD_MESSAGE),
    ],
)
def test_bad_header_is_refused(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


def test_unknown_message_type_is_refused_with_the_header_attached():
    frames = with_header(header_map("teleport", msg_id="feedbeef"))
    with pytest.raises(ProtocolError) as info:
        decode(frames)
    assert info.value.code == ErrorCode.UNKNOWN_TYPE
    assert "teleport" in info.value.message
    assert (info.value.header.msg_id, info.value.header.msg_type) == ("feedbeef", "teleport")


# docs/protocol.md §4.4: errors found once the header is valid carry it, so the engine can address its reply.
@pytest.mark.parametrize(
    ("frames", "has_header"),
    [
        pytest.param(edited("ack", (("received",), -1)), True, id="bad-body-field"),
        pytest.param([*HELLO[:2], b"\xc1"], True, id="unreadable-body"),
        pytest.param([*HELLO, b"\x00"], True, id="unclaimed-buffer"),
        pytest.param(with_header(header_map("hello", version="2.0")), False, id="header-of-major-2"),
        pytest.param(with_header(header_map("hello", time=math.inf)), False, id="bad-header-field"),
        pytest.param([b"maskprop/2", *HELLO[1:]], False, id="tag-of-major-2"),
    ],
)
def test_error_carries_the_header_once_the_header_is_valid(frames, has_header):
    with pytest.raises(ProtocolError) as info:
        decode(frames)
    if has_header:
        assert info.value.header.msg_id == unpack(frames[1])["msg_id"]
    else:
        assert info.value.header is None


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("body-not-a-map", [*HELLO[:2], pack(["blender"])], INVALID_FIELD, "body"),
        case("missing-required", edited("result", (("mattes",), DELETE)), INVALID_FIELD, "body.mattes"),
        case("none-for-required", edited("hello", (("client",), None)), INVALID_FIELD, "body.client"),
        case("str-for-int", edited("ack", (("received",), "12")), INVALID_FIELD, "body.received"),
        case("bool-for-int", edited("frame", (("index",), True)), INVALID_FIELD, "body.index"),
        case("float-for-int", edited("ack", (("received",), 12.0)), INVALID_FIELD, "body.received"),
        case("int-for-bool", edited("cancel_reply", (("cancelled",), 1)), INVALID_FIELD, "body.cancelled"),
        case("str-for-float", edited("status_reply", (("uptime_s",), "1h")), INVALID_FIELD, "body.uptime_s"),
        case("bytes-for-str", edited("hello", (("client",), b"blender")), INVALID_FIELD, "body.client"),
        case("binary-key-names-no-field", [*HELLO[:2], pack({b"client": "blender"})], INVALID_FIELD, "body.client"),
        case("str-for-list", edited("frame_request", (("indices",), "0,1")), INVALID_FIELD, "body.indices"),
        case("str-for-record", edited("propagate", (("options",), "fast")), INVALID_FIELD, "body.options"),
        case("list-for-map", edited("error", (("details",), [1])), INVALID_FIELD, "body.details"),
        case(
            "wrong-item-type",
            edited("keyframe_reply", (("objects",), [1, "2"])),
            INVALID_FIELD,
            "body.objects[1]",
        ),
        case(
            "object-id-0",
            edited("open_session", (("objects", 0, "id"), 0)),
            INVALID_FIELD,
            "body.objects[0].id",
        ),
        case(
            "object-id-256",
            edited("open_session", (("objects", 1, "id"), 256)),
            INVALID_FIELD,
            "body.objects[1].id",
        ),
        case("negative-frame-index", edited("frame", (("index",), -1)), INVALID_FIELD, "body.index"),
        case("frame-index-past-max", edited("keyframe", (("frame",), 1_000_000)), INVALID_FIELD, "body.frame"),
        case("negative-count", edited("ack", (("received",), -1)), INVALID_FIELD, "body.received"),
        case("float-nan", edited("status_reply", (("uptime_s",), math.nan)), INVALID_FIELD, "body.uptime_s"),
        case("float-inf", edited("summary", (("elapsed_s",), math.inf)), INVALID_FIELD, "body.elapsed_s"),
        case(
            "nested-float-minus-inf",
            edited("propagate", (("options", "kernel_sigma"), -math.inf)),
            INVALID_FIELD,
            "body.options.kernel_sigma",
        ),
        case(
            "fraction-above-1",
            edited("result", (("objects", 0, "confidence"), 1.5)),
            INVALID_FIELD,
            "body.objects[0].confidence",
        ),
        case(
            "literal-not-a-choice", edited("propagate", (("direction",), "sideways")), INVALID_FIELD, "body.direction"
        ),
        case("literal-case-differs", edited("frame", (("colorspace",), "sRGB")), INVALID_FIELD, "body.colorspace"),
        case("literal-not-a-str", edited("summary", (("status",), 1)), INVALID_FIELD, "body.status"),
        case(
            "nested-literal",
            edited("propagate", (("outputs", "matte_dtype"), "float32")),
            INVALID_FIELD,
            "body.outputs.matte_dtype",
        ),
        case("ext-type", edited("hello", (("client",), msgpack.ExtType(5, b"x"))), BAD_MESSAGE),
        case("timestamp-ext", edited("hello", (("client",), msgpack.Timestamp(1, 0))), BAD_MESSAGE),
        case("nested-past-msgpack-depth", [TAG, HELLO[1], b"\x81\xa6client" + b"\x91" * 2000 + b"\xc0"], BAD_MESSAGE),
        # repr() of a value msgpack accepted (up to 1024 deep) must not recurse without bound.
        case("nested-1000-deep", edited("hello", (("client",), nested(1000))), INVALID_FIELD, "body.client"),
    ],
)
def test_bad_body_field_is_refused(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


def test_deeply_nested_header_field_is_refused():
    assert_refused(with_header(header_map("hello", msg_id=nested(1000))), INVALID_FIELD, "header.msg_id")


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("string-past-its-length", edited("hello", (("client",), "b" * 65)), TOO_LARGE, "body.client"),
        case("string-counted-in-utf8-bytes", edited("hello", (("client",), "é" * 33)), TOO_LARGE, "body.client"),
        case("list-past-its-length", edited("frame_request", (("indices",), [0] * 257)), TOO_LARGE, "body.indices"),
        case("range-of-3", edited("keyframe_reply", (("invalidated",), [1, 2, 3])), TOO_LARGE, "body.invalidated"),
        case("details-of-65", edited("error", (("details",), {str(i): i for i in range(65)})), TOO_LARGE),
        case("msg-id-too-long", with_header(header_map("hello", msg_id="f" * 65)), TOO_LARGE, "header.msg_id"),
    ],
)
def test_length_past_its_upper_bound_is_too_large(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


# docs/protocol.md §5.2: shorter than the lower bound is a wrong value, not a size limit.
@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("empty-required-string", edited("hello", (("client",), "")), INVALID_FIELD, "body.client"),
        case("empty-required-list", edited("open_session", (("objects",), [])), INVALID_FIELD, "body.objects"),
        case("empty-msg-id", with_header(header_map("hello", msg_id="")), INVALID_FIELD, "header.msg_id"),
    ],
)
def test_length_under_its_lower_bound_is_an_invalid_field(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


# docs/protocol.md §4.2: msgpack containers past the decoder's caps are refused before they are allocated.
@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("string-past-max-string-bytes", edited("open_session", (("source", "path"), "p" * 5000)), TOO_LARGE),
        case("list-past-max-list-items", edited("frame_request", (("indices",), [0] * 100_001)), TOO_LARGE),
        case("map-past-256-entries", edited("hello", *[((f"x{i}",), i) for i in range(256)]), TOO_LARGE),
        case(
            "string-past-custom-max-string-bytes",
            edited("hello", (("client_version",), "v" * 100)),
            TOO_LARGE,
            max_string_bytes=64,
        ),
        case("list-past-custom-max-list-items", encoded(sample("frame_request"))[1], TOO_LARGE, max_list_items=3),
    ],
)
def test_container_past_the_msgpack_caps_is_too_large(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("dtype-float64", edited("frame", ((*PIXELS, "dtype"), "float64")), INVALID_FIELD, "body.pixels.dtype"),
        case("dtype-object", edited("frame", ((*PIXELS, "dtype"), "object")), INVALID_FIELD, "body.pixels.dtype"),
        case("dtype-big-endian", edited("frame", ((*PIXELS, "dtype"), ">u2")), INVALID_FIELD, "body.pixels.dtype"),
        case("dtype-missing", edited("frame", ((*PIXELS, "dtype"), DELETE)), INVALID_FIELD, "body.pixels.dtype"),
        case(
            "dtype-not-for-this-field",
            edited("keyframe", (("labels", "dtype"), "uint16"), (("labels", "nbytes"), HEIGHT * WIDTH * 2)),
            INVALID_FIELD,
            "body.labels.dtype",
        ),
        case("not-a-descriptor", edited("frame", (PIXELS, "raw")), INVALID_FIELD, "body.pixels"),
        case("shape-not-a-list", edited("frame", ((*PIXELS, "shape"), 1728)), INVALID_FIELD, "body.pixels.shape"),
        case(
            "shape-negative",
            edited("frame", ((*PIXELS, "shape"), [-HEIGHT, WIDTH, 3])),
            INVALID_FIELD,
            "body.pixels.shape",
        ),
        case(
            "shape-too-few-axes",
            edited("frame", ((*PIXELS, "shape"), [HEIGHT, WIDTH * 3])),
            INVALID_FIELD,
            "body.pixels.shape",
        ),
        case(
            "two-channels",
            edited("frame", (PIXELS, descriptor(0, "uint8", [HEIGHT, WIDTH * 3 // 2, 2]))),
            INVALID_FIELD,
            "body.pixels.shape",
        ),
        case(
            "points-not-pairs",
            edited("result", (("contours", 0, "points", "shape"), [14, 1])),
            INVALID_FIELD,
            "body.contours[0].points.shape",
        ),
        case(
            "nbytes-disagrees-with-shape",
            edited("frame", ((*PIXELS, "nbytes"), HEIGHT * WIDTH * 3 + 1)),
            INVALID_FIELD,
            "body.pixels.nbytes",
        ),
        case(
            "buffer-smaller-than-descriptor",
            edited("frame", (PIXELS, descriptor(0, "uint8", [HEIGHT, WIDTH, 4]))),
            INVALID_FIELD,
            "body.pixels",
        ),
        case("buffer-missing", edited("frame", buffers=[]), INVALID_FIELD, "body.pixels.buffer"),
        case("buffer-index-past-end", edited("frame", ((*PIXELS, "buffer"), 1)), INVALID_FIELD, "body.pixels.buffer"),
        case("buffer-index-negative", edited("frame", ((*PIXELS, "buffer"), -1)), INVALID_FIELD, "body.pixels.buffer"),
        case("buffer-index-a-str", edited("frame", ((*PIXELS, "buffer"), "0")), INVALID_FIELD, "body.pixels.buffer"),
        case(
            "buffer-claimed-twice",
            edited("result", (("labels",), descriptor(0, "uint8", [HEIGHT, WIDTH])), index=1),
            INVALID_FIELD,
            "body.labels.buffer",
        ),
        case("buffer-unclaimed", [*FRAME, b"\x00" * 16], BAD_MESSAGE),
        case("buffer-unclaimed-by-empty-body", [*HELLO, b""], BAD_MESSAGE),
    ],
)
def test_bad_array_descriptor_is_refused(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


RESULT = encoded(sample("result"))[1]  # 5 buffers: 2 mattes of 18x32, labels, uncertainty, contour points


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case("buffers-past-default-max", [*HELLO, *[b""] * 513], TOO_LARGE),
        case("buffers-past-max", RESULT, TOO_LARGE, max_buffers=4),
        case("message-bytes-past-max", FRAME, TOO_LARGE, max_message_bytes=sum(map(len, FRAME)) - 1),
        case("header-past-default-max", with_header(header_map("hello", pad="x" * 4096)), TOO_LARGE),
        case("header-past-max", HELLO, TOO_LARGE, max_header_bytes=len(HELLO[1]) - 1),
        case("body-past-max", HELLO, TOO_LARGE, max_body_bytes=len(HELLO[2]) - 1),
        case("frame-wider-than-max", FRAME, TOO_LARGE, "body.pixels.shape", max_frame_width=WIDTH - 1),
        case("frame-taller-than-max", FRAME, TOO_LARGE, "body.pixels.shape", max_frame_height=HEIGHT - 1),
        case("mattes-past-max-objects", RESULT, TOO_LARGE, "body.mattes.shape", max_objects=1),
        case("points-past-max-list-items", RESULT, TOO_LARGE, "body.contours[0].points.shape", max_list_items=6),
    ],
)
def test_receiver_limits_are_enforced(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


def test_message_exactly_at_the_limits_is_accepted():
    limits = Limits(
        max_message_bytes=sum(map(len, FRAME)),
        max_header_bytes=len(FRAME[1]),
        max_body_bytes=len(FRAME[2]),
        max_buffers=1,
        max_frame_width=WIDTH,
        max_frame_height=HEIGHT,
    )
    assert decode(FRAME, limits).body.pixels.shape == (HEIGHT, WIDTH, 3)


KEYFRAME = encoded(sample("keyframe"))[1]  # labels in buffer 0
KEY_MATTE = b"\x80" * (HEIGHT * WIDTH)


@pytest.mark.parametrize(
    CASE_FIELDS,
    [
        case(
            "keyframe-labels-and-mattes",
            edited(
                "keyframe",
                (("mattes",), descriptor(1, "uint8", [1, HEIGHT, WIDTH])),
                (("object_ids",), [1]),
                buffers=[*KEYFRAME[3:], KEY_MATTE],
            ),
            INVALID_FIELD,
            "body",
        ),
        case("keyframe-neither", edited("keyframe", (("labels",), None), buffers=[]), INVALID_FIELD, "body"),
        case("keyframe-object-ids-short", edited("keyframe", (("object_ids",), [1]), index=1), INVALID_FIELD, "body"),
        case("open-session-duplicate-ids", edited("open_session", (("objects", 1, "id"), 1)), INVALID_FIELD, "body"),
        case("files-source-without-path", edited("open_session", (("source", "path"), "")), INVALID_FIELD),
        case("stream-source-with-path", edited("open_session", (("source", "path"), "/x"), index=1), INVALID_FIELD),
        case(
            "stream-source-with-exr-layer",
            edited("open_session", (("source", "exr_layer"), "Denoised"), index=1),
            INVALID_FIELD,
        ),
        case("view-gamma-zero", edited("open_session", (("source", "view", "gamma"), 0.0)), INVALID_FIELD),
        case("view-name-empty", edited("open_session", (("source", "view", "view"), "")), INVALID_FIELD),
        case("propagate-last-before-first", edited("propagate", (("last",), 0), index=1), INVALID_FIELD, "body"),
        case("result-mattes-objects-disagree", edited("result", (("objects",), []), index=1), INVALID_FIELD, "body"),
        case(
            "contours-start-past-points",
            edited("result", (("contours", 0, "starts"), [0, 7])),
            INVALID_FIELD,
            "body.contours[0]",
        ),
        case(
            "contours-starts-not-increasing",
            edited("result", (("contours", 0, "starts"), [4, 0])),
            INVALID_FIELD,
            "body.contours[0]",
        ),
        case(
            "contours-holes-count-differs",
            edited("result", (("contours", 0, "holes"), [False])),
            INVALID_FIELD,
            "body.contours[0]",
        ),
    ],
)
def test_inconsistent_body_is_refused(frames, code, field, limits):
    assert_refused(frames, code, field, limits)


@pytest.mark.parametrize("dtype", ["float64", "int64", "int32", "bool", "complex64", "object"])
def test_encoder_refuses_arrays_of_other_dtypes(dtype):
    pixels = np.zeros((2, 3, 3), dtype=dtype)
    with pytest.raises(ProtocolError) as info:
        encode(make(m.Frame(index=0, pixels=pixels)))
    assert info.value.code == INVALID_FIELD
    assert str(pixels.dtype) in info.value.message


def test_encoder_refuses_float64_mattes_nested_in_a_result():
    objects = [m.ObjectResult(id=1, confidence=1.0, lost=False, area=6)]
    body = m.Result(frame=0, objects=objects, mattes=np.ones((1, 2, 3)), sequence=0)
    with pytest.raises(ProtocolError) as info:
        encode(make(body))
    assert info.value.code == INVALID_FIELD
