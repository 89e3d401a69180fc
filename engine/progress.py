"""Progress for people and for farm managers.

On a terminal, a tqdm bar; otherwise (a log file, a farm) one plain line per finished frame, which log
watchers and "last log update" stall detectors can read.
"""

from __future__ import annotations

import sys
from typing import TextIO


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
        if enabled and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, desc=label, unit=unit, file=self.stream)

    def advance(self, detail: str = "") -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
            if detail:
                self._bar.set_postfix_str(detail, refresh=False)
        elif self.enabled:
            print(f"{self.label}: {self.done}/{self.total} {detail}".rstrip(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
