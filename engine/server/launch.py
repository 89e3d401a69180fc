"""`python -m engine serve` as a child process, for benchmarks and tests that talk to a real server.

The child binds where it is told (a `:0` port picks a free one) and prints `serving on ENDPOINT` once it
answers; `ServerProcess` waits for that line and keeps the endpoint. Stopping sends SIGTERM, which the server
answers by finishing its step in progress and exiting with code 0.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from engine.errors import EngineError
from protocol.environment import engine_environment

START_TIMEOUT = 120.0  # seconds: importing torch and loading a checkpoint on a slow disk
READY_PREFIX = "serving on "  # what `engine serve` prints once it answers


class ServerStartError(EngineError):
    """The server exited or stayed silent instead of saying `serving on`; the message holds its log's end."""


class ServerProcess:
    """A running server; `endpoint` is where it serves. Its stderr (the log) goes to `log_path` if given."""

    def __init__(
        self, args: Sequence[str], environment: Mapping[str, str] | None = None, log_path: Path | None = None
    ) -> None:
        self.log_path = log_path
        self._log: IO[str] | int = log_path.open("w") if log_path is not None else subprocess.DEVNULL
        command = [sys.executable, "-m", "engine", "serve", *args]
        env = engine_environment(environment)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        self.endpoint = self._wait_until_serving()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the server has logged so far ("" without a log file)."""
        if self.log_path is None:
            return ""
        if not isinstance(self._log, int) and not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit code once it has stopped (it is killed if it does not stop in `timeout`)."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.alive:
                self.process.kill()
                self.process.wait()
            assert self.process.stdout is not None
            self.process.stdout.close()
            if not isinstance(self._log, int):
                self._log.close()

    def _wait_until_serving(self) -> str:
        """The endpoint from the `serving on` line of stdout; other lines (what a library printed first) are skipped.

        Lines are read in a thread, since a pipe has no portable read timeout; it stops at the line it waits for.
        """
        stdout = self.process.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_until_serving, args=(stdout, lines), daemon=True).start()
        skipped: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                line = ""
            if line.startswith(READY_PREFIX):
                return line.split()[-1]
            if not line:  # end of output, or the time-out
                self.stop(timeout=5)
                said = " | ".join(skipped[-3:]) or "no output"
                raise ServerStartError(f"the engine did not start ({said}):\n{self.log()[-4000:]}")
            skipped.append(line.strip())


def _read_until_serving(stdout: IO[str], lines: queue.Queue[str]) -> None:
    """Pass stdout's lines on until the `serving on` line or the end ("")."""
    while True:
        line = stdout.readline()
        lines.put(line)
        if not line or line.startswith(READY_PREFIX):
            return
