"""`python -m engine serve` as a child process: the one launcher of the add-on, the benchmarks and the tests.

The child writes its stdout and stderr into one log file and prints `serving on ENDPOINT` (a `:0` port resolved)
once it answers, after whatever a library printed first. `poll()` looks for that line without blocking, so
Blender can call it from a timer while PyTorch loads the network; `wait()` blocks, for scripts and tests.
`stop()` sends SIGTERM, which the server answers by finishing its step in progress, and kills the child if it
has not stopped in time. Nothing here imports the engine: the add-on carries this package without it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from protocol.environment import engine_environment

READY_PREFIX = "serving on "  # what `engine serve` prints once it answers
START_TIMEOUT = 120.0  # seconds: importing PyTorch and loading a checkpoint from a slow disk
STOP_TIMEOUT = 10.0  # seconds for a clean SIGTERM shutdown (the step in progress finishes) before a kill
WAIT_STEP = 0.05  # seconds between looks at the log while a blocking caller waits
LOG_TAIL_LINES = 12


class EngineStartError(Exception):
    """The engine could not be started, exited, or did not serve in time; `message` ends with its log's end."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineProcess:
    """One started engine; `poll()` or `wait()` until it serves, then talk to `endpoint`; `stop()` when done."""

    def __init__(
        self,
        python: str,
        args: Sequence[str],
        log_path: Path | None = None,
        environment: Mapping[str, str] | None = None,
        start_timeout: float = START_TIMEOUT,
        detached: bool = False,
    ) -> None:
        """Start `python -m engine serve ARGS`; its output goes to `log_path` (default: a new temporary file,
        kept, so that the artist can read it). `detached` starts it in a session of its own, so that it outlives
        this process and the signals sent to this process's group (a farm environment's engine)."""
        self.python = python
        self.start_timeout = start_timeout
        self.endpoint = ""  # once `poll()` has seen the `serving on` line
        if log_path is None:
            descriptor, name = tempfile.mkstemp(prefix="maskprop-engine-", suffix=".log")
            os.close(descriptor)
            log_path = Path(name)
        self.log_path = log_path
        with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
            try:
                self.process = subprocess.Popen(
                    [python, "-m", "engine", "serve", *args],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=engine_environment(environment),
                    start_new_session=detached,
                )
            except OSError as error:  # a file that is no program (exec format error), or none at all
                raise EngineStartError(f"The engine's Python interpreter {python} cannot run: {error}") from None
        self._started = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def poll(self) -> bool:
        """True once the engine serves, False while it loads; raises `EngineStartError` if it died or took too long."""
        if not self.endpoint:
            self.endpoint = self._served_endpoint()
        code = self.process.poll()
        if code is not None:
            when = "stopped" if self.endpoint else "exited before it served"
            raise EngineStartError(
                f"The engine ({self.python}) {when} with exit code {code}: is it a Python with the engine "
                f"installed, and can it load the checkpoint?\n{self.log_tail()}"
            )
        if self.endpoint:
            return True
        if time.monotonic() - self._started > self.start_timeout:
            self.stop()
            raise EngineStartError(
                f"The engine did not serve within {self.start_timeout:g} s, so it was stopped.\n{self.log_tail()}"
            )
        return False

    def wait(self) -> str:
        """Block until the engine serves and return its endpoint."""
        while not self.poll():
            time.sleep(WAIT_STEP)
        return self.endpoint

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then a kill if it has not stopped within `timeout`; returns the exit code."""
        if self.alive:
            self.process.terminate()
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def log(self) -> str:
        """Everything the engine has printed and logged so far."""
        return self.log_path.read_text(errors="replace")

    def log_tail(self) -> str:
        """The log's path and its last lines, for error messages: what the engine said is usually the answer."""
        lines = self.log().splitlines()[-LOG_TAIL_LINES:]
        body = "\n".join(lines) if lines else "(the log is empty)"
        return f"Its log {self.log_path} ends with:\n{body}"

    def _served_endpoint(self) -> str:
        for line in self.log().splitlines():
            if line.startswith(READY_PREFIX):
                return line.removeprefix(READY_PREFIX).strip()
        return ""
