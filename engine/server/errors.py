"""Errors as the wire carries them: an `error` body that always fits its own field bounds.

Messages can quote client input (a path of 4,096 bytes, a field name), so the text is cut to the field's byte
limit on a character boundary; otherwise the client's decoder would refuse the very error that explains what
went wrong.
"""

from __future__ import annotations

from protocol import messages as m
from protocol.errors import RETRYABLE, ErrorCode, ProtocolError


def error_body(code: ErrorCode, message: str, *, retryable: bool | None = None, details: dict | None = None) -> m.Error:
    """An `error` body; `retryable` defaults to whether the code is transient."""
    return m.Error(
        code=code.value,
        message=clip(message, m.ERROR_MESSAGE_BYTES),
        retryable=code in RETRYABLE if retryable is None else retryable,
        details=dict(details or {}),
    )


def from_protocol_error(error: ProtocolError) -> m.Error:
    return error_body(error.code, error.message, retryable=error.retryable, details=error.details)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8", "replace")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")
