"""The maskprop wire protocol: messages, their validation and framing, and the client.

Pure Python over pyzmq, msgpack and numpy, because it runs inside Blender's Python as well as in the
engine; it must never import torch. `docs/protocol.md` is the specification.
"""

from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.version import PROTOCOL_MAJOR, PROTOCOL_VERSION, TAG
from protocol.wire import Header, Message, decode, encode, make, reply

__all__ = [
    "DEFAULT_LIMITS",
    "PROTOCOL_MAJOR",
    "PROTOCOL_VERSION",
    "TAG",
    "ErrorCode",
    "Header",
    "Limits",
    "Message",
    "ProtocolError",
    "decode",
    "encode",
    "make",
    "reply",
]
