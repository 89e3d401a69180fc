"""Stopping a long command cleanly on SIGTERM or SIGINT: farms send SIGTERM and wait a grace period.

Batch jobs ask after every network step, training after every optimiser step; both save what they have and
exit with the signal's code.
"""

from __future__ import annotations

import signal
from types import FrameType

from engine.exit_codes import CANCELLED, INTERRUPTED


class StopRequest:
    """Set by SIGTERM or SIGINT; the running shot asks it after every network step.

    The first signal only asks; a second one of the same kind gets the default action and ends the process at
    once (outputs stay consistent: every write is atomic).
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None

    def install(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.signal_number = number
        signal.signal(number, signal.SIG_DFL)

    def __call__(self) -> bool:
        return self.signal_number is not None

    @property
    def exit_code(self) -> int:
        return INTERRUPTED if self.signal_number == signal.SIGINT else CANCELLED
