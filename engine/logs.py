"""Structured logs: one line per event, with the session id and other fields as data.

An operator of a shared box greps by session (`session=3f2a...`) or feeds JSON lines to a log collector, so
every event is logged as `event(logger, level, message, session=..., key=value...)`: the fields travel in the
record's `fields` attribute and the formatter renders them as `key=value` pairs or as JSON keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from typing import Any, Literal

LogFormat = Literal["text", "json"]


def event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log `message` with `fields` (session=..., client=..., ...) kept as data, not baked into the text."""
    logger.log(level, message, extra={"fields": fields})


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`: readable in a terminal, greppable by field."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{key}={_text(value)}" for key, value in _fields(record).items())
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        line = f"{line} {pairs}" if pairs else line
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, fields as top-level keys, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    """Send every log record to stderr in `log_format`; stdout stays free for the `serving on` line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", {}))
    if fields.get("session"):
        fields["session"] = session_tag(str(fields["session"]))
    return fields


def session_tag(session_id: str) -> str:
    """A short hash that tells sessions apart in the log. The id itself never goes there: only the client that
    opened a session may use it, and a log is read by more people than that."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:10]


def _text(value: Any) -> str:
    """A field value as one token: strings with spaces are quoted, so `key=value` pairs stay splittable."""
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text
