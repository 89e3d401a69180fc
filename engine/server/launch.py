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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from engine.errors import EngineError

START_TIMEOUT = 120.0  # seconds: importing torch and loading a checkpoint on a slow disk


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
        env = dict(environment) if environment is not None else None
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
        """The endpoint from the first stdout line (read in a thread: a pipe has no portable read timeout)."""
        stdout = self.process.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = ""
        if not line.startswith("serving on "):
            self.stop(timeout=5)
            raise ServerStartError(f"the engine did not start ({line.strip() or 'no output'}):\n{self.log()[-4000:]}")
        return line.split()[-1]
