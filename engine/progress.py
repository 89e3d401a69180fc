"""Progress for people and for farm managers.

On a terminal, a tqdm bar; otherwise (a log file, a farm) one plain line per finished frame, which log
watchers and "last log update" stall detectors can read; with `--log-format json`, one JSON log event per
frame instead, for log collectors. A batch shows its own bar above each shot's (`outer_bar`): there is one
terminal per process, so the bars' stacking is the process's, not each caller's.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from engine.logs import event

log = logging.getLogger("engine.progress")

_json_events = False  # `use_json_events`: progress as structured log records
_outer: Progress | None = None  # the batch's bar, while one is shown; shot bars go under it


def use_json_events(enabled: bool = True) -> None:
    """Report progress as `progress` log events (label, done, total and the caller's fields) from now on; the
    log's format (`engine.logs.configure_logging`) then makes them JSON lines."""
    global _json_events
    _json_events = enabled


class Progress:
    """Counts finished frames of a known total; `close()` when done."""

    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        enabled: bool = True,
        unit: str = "frame",
        done: int = 0,
    ) -> None:
        self.total = total
        self.label = label
        self.done = done
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._bar = None
        if enabled and not _json_events and self.stream.isatty():
            from tqdm import tqdm

            nested = _outer is not None
            self._bar = tqdm(
                total=total,
                initial=done,
                desc=label,
                unit=unit,
                file=self.stream,
                position=int(nested),
                leave=not nested,
            )

    def advance(self, detail: str = "", **fields: Any) -> None:
        """One more done; `detail` for people, `fields` (e.g. frame=..., confidence=...) for JSON events."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
            if detail:
                self._bar.set_postfix_str(detail, refresh=False)
        elif self.enabled and _json_events:
            event(log, logging.INFO, "progress", label=self.label, done=self.done, total=self.total, **fields)
        elif self.enabled:
            print(f"{self.label}: {self.done}/{self.total} {detail}".rstrip(), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A line of text that must not break the bars (tqdm clears and redraws them around it)."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextlib.contextmanager
def outer_bar(total: int, label: str, enabled: bool = True, done: int = 0) -> Iterator[Progress]:
    """A bar over several shots' frames, which the shots' own bars stack under while it is open."""
    global _outer
    shown = enabled and not _json_events and sys.stderr.isatty()  # elsewhere the farm's lines say it
    bar = Progress(total, label, enabled=shown, done=done)
    previous, _outer = _outer, bar if bar._bar is not None else None
    try:
        yield bar
    finally:
        _outer = previous
        bar.close()
