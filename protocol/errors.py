"""Error codes shared by the engine and its clients.

One exception type crosses every boundary of the protocol: `ProtocolError` carries a machine-readable code,
whether a retry can succeed, a message for a person and structured details. The engine sends it as an
`error` message and the client raises it again on its side, so a caller handles a malformed frame, a busy
engine and a lost connection in one `except` clause and decides by `code`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """What went wrong, grouped as the farm managers group failures: bad request, transient, engine fault."""

    # The request is wrong: repeating it unchanged fails again.
    BAD_MESSAGE = "bad_message"  # not a decodable message of this protocol
    VERSION_MISMATCH = "version_mismatch"  # the peer speaks another major version
    UNKNOWN_TYPE = "unknown_type"  # a well-formed message of a type this peer does not know
    INVALID_FIELD = "invalid_field"  # a field is missing, of the wrong type or out of range
    TOO_LARGE = "too_large"  # a size limit (message, frame, string, list, buffer count) is exceeded
    UNKNOWN_SESSION = "unknown_session"  # no engine session with that id (never opened, closed or expired)
    INVALID_STATE = "invalid_state"  # the request does not fit the session's state (propagate without keyframe)
    FORBIDDEN = "forbidden"  # a path outside the roots the engine's operator allowed
    NOT_FOUND = "not_found"  # a file named by the request does not exist on the engine's disk
    # The engine cannot do it now: the same request may succeed later.
    BUSY = "busy"  # too many sessions or frames in flight; details carry retry_after
    OUT_OF_MEMORY = "out_of_memory"  # the device ran out of memory; a smaller internal resolution may fit
    TIMEOUT = "timeout"  # no reply within the request's timeout (raised by the client)
    PEER_GONE = "peer_gone"  # the other side stopped answering heartbeats (raised by the client)
    # The engine itself failed.
    INTERNAL = "internal"


RETRYABLE: frozenset[ErrorCode] = frozenset(
    {ErrorCode.BUSY, ErrorCode.OUT_OF_MEMORY, ErrorCode.TIMEOUT, ErrorCode.PEER_GONE}
)


class ProtocolError(Exception):
    """A failure that the protocol can describe: raised by decoding, sent as `error`, raised by the client."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = _as_code(code)
        self.message = message
        self.retryable = self.code in RETRYABLE if retryable is None else retryable
        self.details: dict[str, Any] = dict(details or {})
        self.header: Any = None  # the decoded header of the offending message, when it could be read

    @classmethod
    def from_body(cls, body: Any) -> ProtocolError:
        """The error an `error` message's body describes."""
        return cls(body.code, body.message, retryable=body.retryable, details=body.details)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.message!r}, details={self.details!r})"


def _as_code(code: ErrorCode | str) -> ErrorCode:
    """Map a code from the wire to the enum; a code a newer peer invented reads as an engine fault."""
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.INTERNAL
