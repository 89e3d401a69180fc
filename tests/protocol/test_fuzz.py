"""Random and mutated multipart messages: `decode` either returns a well-typed message or raises ProtocolError.

Any other exception escaping `decode` fails a test. Five tests feed 500 + 1,000 + 500 + 500 + 1,000 = 3,500
inputs in all: random frame lists, byte-level mutations of valid messages of every catalogue type, frame-level
mutations (drop, duplicate, reorder, truncate), whole headers or bodies replaced by random msgpack values, and
single header or body fields replaced by random msgpack values. The runs are derandomized, so CI sees the same
inputs every time.
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import CATALOGUE
from protocol.version import TAG
from protocol.wire import Header, Message, decode
from tests.protocol.samples import encoded, pack, sample_bodies, unpack

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# The codes a decoder may raise; anything else (an engine fault, a client timeout) has no business here.
DECODE_CODES = {
    ErrorCode.BAD_MESSAGE,
    ErrorCode.VERSION_MISMATCH,
    ErrorCode.UNKNOWN_TYPE,
    ErrorCode.INVALID_FIELD,
    ErrorCode.TOO_LARGE,
}

# Small limits, so mutated sizes reach every limit check.
TIGHT = Limits(
    max_message_bytes=6000,
    max_header_bytes=160,
    max_body_bytes=600,
    max_buffers=4,
    max_frame_width=24,
    max_frame_height=24,
    max_objects=2,
    max_string_bytes=48,
    max_list_items=6,
)
LIMITS = st.sampled_from([DEFAULT_LIMITS, TIGHT])

VALID = [encoded(body)[1] for _, body in sample_bodies()]
KNOWN_FRAMES = sorted({frame for frames in VALID for frame in frames[:3]} | {b"maskprop/2", b"maskprop/", b""})
BUFFERS = sorted({frame for frames in VALID for frame in frames[3:]})


def check_decode(frames: list[Any], limits: Limits) -> None:
    """Decode; a refusal must be a ProtocolError of a decoding code, a success a message of its type."""
    try:
        message = decode(frames, limits)
    except ProtocolError as error:
        assert error.code in DECODE_CODES, repr(error)
        return
    assert isinstance(message, Message)
    assert isinstance(message.header, Header)
    assert isinstance(message.body, CATALOGUE[message.msg_type].body)


# --- msgpack values -------------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(min_value=-2, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["uint8", "uint16", "float16", "float32", "float64", "object", "files", "stream", "1.0", "2.0"]),
    st.sampled_from(sorted(CATALOGUE)),  # a message type swapped for another, or a string where a type goes
    st.binary(max_size=12),
    st.builds(msgpack.ExtType, st.integers(min_value=0, max_value=127), st.binary(max_size=6)),
)
DESCRIPTORS = st.fixed_dictionaries(
    {
        "buffer": st.integers(min_value=-1, max_value=5),
        "dtype": st.sampled_from(["uint8", "uint16", "float16", "float32", "float64", "object"]),
        "shape": st.lists(st.integers(min_value=-1, max_value=40), max_size=4),
        "nbytes": st.integers(min_value=-1, max_value=10_000),
    }
)
VALUES = st.recursive(
    st.one_of(SCALARS, DESCRIPTORS),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
        st.dictionaries(st.integers(min_value=-5, max_value=5), children, min_size=1, max_size=3),
    ),
    max_leaves=16,
)
# Lists nested about as deep as msgpack accepts. Hypothesis raises the recursion limit while a test runs, so the
# RecursionError these cause in protocol/schema.py `_show` shows in test_validation, not here.
DEEP = st.integers(min_value=900, max_value=1000).map(nested)
FIELD_VALUES = st.one_of(VALUES, DEEP)


# --- mutations ------------------------------------------------------------------------------------------


@st.composite
def byte_mutations(draw: st.DrawFn) -> list[bytes]:
    """A valid message with a few bytes of its frames flipped, inserted, deleted or overwritten."""
    frames = list(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        index = draw(st.integers(min_value=0, max_value=len(frames) - 1))
        data = bytearray(frames[index])
        at = draw(st.integers(min_value=0, max_value=len(data)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "overwrite"]))
        if operation == "insert" or not data:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif operation == "flip":
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif operation == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=4))]
        else:
            data[min(at, len(data) - 1)] = draw(st.integers(min_value=0, max_value=255))
        frames[index] = bytes(data)
    return frames


@st.composite
def frame_mutations(draw: st.DrawFn) -> list[bytes]:
    """A valid message with frames dropped, duplicated, reordered, truncated or added."""
    frames = list(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        operation = draw(st.sampled_from(["drop", "duplicate", "reorder", "truncate", "append", "swap-in"]))
        index = draw(st.integers(min_value=0, max_value=max(len(frames) - 1, 0)))
        if operation == "append" or not frames:
            frames.append(draw(st.one_of(st.binary(max_size=64), st.sampled_from(KNOWN_FRAMES))))
        elif operation == "drop":
            del frames[index]
        elif operation == "duplicate":
            frames.insert(index, frames[index])
        elif operation == "reorder":
            frames = draw(st.permutations(frames))
        elif operation == "truncate":
            frames[index] = frames[index][: draw(st.integers(min_value=0, max_value=len(frames[index])))]
        else:  # a frame of another valid message in its place
            frames[index] = draw(st.sampled_from(draw(st.sampled_from(VALID))))
    return frames


@st.composite
def replaced_header_or_body(draw: st.DrawFn) -> list[bytes]:
    """A valid message whose header or body is a random msgpack value."""
    frames = list(draw(st.sampled_from(VALID)))
    frames[draw(st.sampled_from([1, 2]))] = pack(draw(VALUES))
    return frames


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list position inside `data` down to 8 levels (messages nest 5), outermost first."""
    found: list[tuple[Any, ...]] = []
    if len(prefix) >= 8:
        return found
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


@st.composite
def replaced_fields(draw: st.DrawFn) -> list[bytes]:
    """A valid message with one or two header or body fields replaced, deleted or added."""
    frames = list(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        index = draw(st.sampled_from([1, 2]))
        data = unpack(frames[index])
        operation = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        candidates = paths(data)
        if operation == "add" or not candidates:
            data[draw(st.text(max_size=10))] = draw(FIELD_VALUES)
        else:
            *outer, last = draw(st.sampled_from(candidates))
            parent = data
            for key in outer:
                parent = parent[key]
            if operation == "delete":
                del parent[last]
            else:
                parent[last] = draw(FIELD_VALUES)
        frames[index] = pack(data)
    return frames


RANDOM_FRAMES = st.one_of(
    st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(KNOWN_FRAMES)), max_size=8),
    # a tag, a header and a body, each from any message or random, then random or real buffers
    st.tuples(
        st.one_of(st.sampled_from([TAG, b"maskprop/2"]), st.binary(max_size=12)),
        st.one_of(st.sampled_from([frames[1] for frames in VALID]), st.binary(max_size=64)),
        st.one_of(st.sampled_from([frames[2] for frames in VALID]), st.binary(max_size=64)),
        st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(BUFFERS)), max_size=5),
    ).map(lambda parts: [*parts[:3], *parts[3]]),
)


# --- tests ----------------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=500)
@given(frames=RANDOM_FRAMES, limits=LIMITS)
def test_random_frame_lists_decode_or_raise_protocol_error(frames, limits):
    check_decode(frames, limits)


@settings(FUZZ, max_examples=1000)
@given(frames=byte_mutations(), limits=LIMITS)
def test_byte_mutated_messages_decode_or_raise_protocol_error(frames, limits):
    check_decode(frames, limits)


@settings(FUZZ, max_examples=500)
@given(frames=frame_mutations(), limits=LIMITS)
def test_frame_mutated_messages_decode_or_raise_protocol_error(frames, limits):
    check_decode(frames, limits)


@settings(FUZZ, max_examples=500)
@given(frames=replaced_header_or_body(), limits=LIMITS)
def test_random_headers_and_bodies_decode_or_raise_protocol_error(frames, limits):
    check_decode(frames, limits)


@settings(FUZZ, max_examples=1000)
@given(frames=replaced_fields(), limits=LIMITS)
def test_messages_with_random_fields_decode_or_raise_protocol_error(frames, limits):
    check_decode(frames, limits)


def test_fuzzing_starts_from_a_valid_message_of_every_type():
    assert {unpack(frames[1])["msg_type"] for frames in VALID} == set(CATALOGUE)
    for frames in VALID:
        check_decode(frames, DEFAULT_LIMITS)
