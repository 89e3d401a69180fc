"""`python -m engine serve` as a child process of this Python, started and waited for: what benchmarks and tests
use to talk to a real server (`protocol.launch` starts it, as it does for the add-on)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.errors import EngineError
from protocol.launch import EngineProcess, EngineStartError

STOP_TIMEOUT = 30.0  # seconds: a test's server may be finishing a step on a loaded CI machine


class ServerStartError(EngineError):
    """The server exited or stayed silent instead of serving; the message holds its log's end."""


class ServerProcess(EngineProcess):
    """A server that serves by the time the constructor returns; `endpoint` is where."""

    def __init__(
        self, args: Sequence[str], environment: Mapping[str, str] | None = None, log_path: Path | None = None
    ) -> None:
        super().__init__(sys.executable, args, log_path, environment)
        try:
            self.wait()
        except EngineStartError as error:
            raise ServerStartError(error.message) from None

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        return super().stop(timeout)
