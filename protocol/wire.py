"""The wire format: one message as the frames of one ZeroMQ multipart message.

    [routing id...]   only on the engine's ROUTER socket, added and removed by ZeroMQ and the server
    TAG               b"maskprop/1": the protocol and its major version
    header            msgpack map (`Header`)
    body              msgpack map, the message type's body; arrays appear as descriptors
    buffer 0..n-1     raw C-order little-endian array bytes, each described by exactly one descriptor

`encode` and `decode` are the only places that know this layout. Decoding checks every size against the
receiver's `Limits` before it allocates, never unpickles, refuses msgpack extension types, and turns any
input at all into either a `Message` or a `ProtocolError`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgpack
import numpy as np

from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import CATALOGUE, Id, OptionalId
from protocol.schema import Buffers, Length, Range, from_wire, to_wire
from protocol.version import PROTOCOL_MAJOR, PROTOCOL_VERSION, TAG, TAG_PREFIX


@dataclass(frozen=True)
class Header:
    msg_id: Id
    msg_type: Annotated[str, Length(1, 64)]
    version: Annotated[str, Length(1, 16)]  # the sender's full protocol version, "1.4"
    time: Annotated[float, Range(0.0, 1e11)]  # Unix time of sending, seconds
    session: OptionalId = ""  # the engine session the message concerns; empty when none
    parent: OptionalId = ""  # on replies and streamed messages: the msg_id of the request


@dataclass(frozen=True)
class Message:
    """A header and a typed body; `buffers` are the frames a decoded body's arrays are views of."""

    header: Header
    body: Any

    @property
    def msg_type(self) -> str:
        return self.header.msg_type


def make(body: Any, *, session: str = "", parent: str = "") -> Message:
    """A new message with a fresh msg_id, stamped now."""
    header = Header(
        msg_id=uuid.uuid4().hex,
        msg_type=type(body).msg_type,
        version=PROTOCOL_VERSION,
        time=time.time(),
        session=session,
        parent=parent,
    )
    return Message(header, body)


def reply(request: Message, body: Any) -> Message:
    """The answer to `request`: same session, parent set to the request's msg_id."""
    return make(body, session=request.header.session, parent=request.header.msg_id)


def encode(message: Message) -> list[bytes | np.ndarray]:
    """The frames to pass to `send_multipart(..., copy=False)`; arrays go out without a copy."""
    buffers: list[np.ndarray] = []
    body = to_wire(message.body, buffers)
    header = to_wire(message.header, [])
    return [TAG, _pack(header), _pack(body), *buffers]


def decode(frames: Sequence[Any], limits: Limits = DEFAULT_LIMITS) -> Message:
    """Read one message from its frames (bytes, memoryviews or zmq.Frame), or raise `ProtocolError`.

    A `ProtocolError` raised after the header was read carries that header as `error.header`, so the
    engine can address its error reply to the request that caused it.
    """
    views = [_view(frame) for frame in frames]
    _check_frame_sizes(views, limits)
    _check_tag(views[0])
    header = _decode_header(views[1], limits)
    try:
        return Message(header, _decode_body(header, views[2], views[3:], limits))
    except ProtocolError as error:
        error.header = header
        raise


def _check_frame_sizes(views: list[memoryview], limits: Limits) -> None:
    if len(views) < 3:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a message has at least 3 frames, got {len(views)}")
    if len(views) - 3 > limits.max_buffers:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"{len(views) - 3} buffers exceed the limit of {limits.max_buffers}")
    total = sum(view.nbytes for view in views)
    if total > limits.max_message_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"the message has {total} bytes, the limit is {limits.max_message_bytes}"
        )
    for name, view, cap in (("header", views[1], limits.max_header_bytes), ("body", views[2], limits.max_body_bytes)):
        if view.nbytes > cap:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"the {name} has {view.nbytes} bytes, the limit is {cap}")


def _check_tag(view: memoryview) -> None:
    tag = view.tobytes()
    if tag == TAG:
        return
    if tag.startswith(TAG_PREFIX) and len(tag) <= 32:
        peer = tag[len(TAG_PREFIX) :].decode("ascii", "replace")
        raise ProtocolError(
            ErrorCode.VERSION_MISMATCH,
            f"the peer speaks protocol version {peer}, this side speaks {PROTOCOL_MAJOR}",
            details={"peer_major": peer, "major": PROTOCOL_MAJOR},
        )
    raise ProtocolError(ErrorCode.BAD_MESSAGE, f"not a maskprop message (first frame {tag[:16]!r})")


def _decode_header(view: memoryview, limits: Limits) -> Header:
    header: Header = from_wire(Header, _unpack(view, limits, "header"), Buffers([]), limits, "header")
    major = header.version.split(".", 1)[0]
    if major != str(PROTOCOL_MAJOR):
        raise ProtocolError(
            ErrorCode.VERSION_MISMATCH,
            f"the header says protocol {header.version}, this side speaks {PROTOCOL_VERSION}",
            details={"peer_version": header.version, "version": PROTOCOL_VERSION},
        )
    return header


def _decode_body(header: Header, view: memoryview, buffer_views: list[memoryview], limits: Limits) -> Any:
    kind = CATALOGUE.get(header.msg_type)
    if kind is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {header.msg_type!r}",
            details={"msg_type": header.msg_type},
        )
    buffers = Buffers(buffer_views)
    body = from_wire(kind.body, _unpack(view, limits, "body"), buffers, limits)
    buffers.check_all_claimed()
    return body


def _pack(data: Any) -> bytes:
    packed: bytes = msgpack.packb(data, use_bin_type=True)
    return packed


def _unpack(view: memoryview, limits: Limits, what: str) -> Any:
    """msgpack with every container capped by `limits` and extension types refused.

    msgpack raises a zoo of exception types for bad input (ValueError, TypeError, FormatError,
    StackError, ExtraData, UnicodeDecodeError...); all of them mean the same thing here.
    """
    try:
        return msgpack.unpackb(
            view,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=limits.max_string_bytes,
            max_bin_len=limits.max_string_bytes,
            max_array_len=limits.max_list_items,
            max_map_len=256,
            max_ext_len=0,
            ext_hook=_refuse_ext,
            timestamp=0,
        )
    except Exception as error:
        code = ErrorCode.TOO_LARGE if _CAPPED.search(str(error)) else ErrorCode.BAD_MESSAGE
        raise ProtocolError(code, f"the {what} is not valid msgpack ({type(error).__name__}: {error})") from None


# msgpack's words for a container over one of the caps above (extension types are refused, not capped).
_CAPPED = re.compile(r"exceeds max_(str|bin|array|map)_len")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"extension type {code} is not allowed")


def _view(frame: Any) -> memoryview:
    try:
        view = memoryview(getattr(frame, "buffer", frame))
        return memoryview(b"") if view.nbytes == 0 else view.cast("B")
    except TypeError as error:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a frame is not bytes: {error}") from None
