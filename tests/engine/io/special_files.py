"""Named pipes for tests, and a way to call a reader on them that fails instead of hanging when it blocks."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (os.mkfifo)")

TIMEOUT_S = 10.0


def make_fifo(path: Path) -> Path:
    """A named pipe at `path` that nothing writes to: a blocking open for reading waits on it forever."""
    os.mkfifo(path)
    return path


def call_on_fifos(call: Callable[[], object], *fifos: Path, timeout: float = TIMEOUT_S) -> BaseException | None:
    """Run `call` and return what it raised (None if it returned), failing the test if it is still blocked after
    `timeout` seconds.

    The call runs on a daemon thread. If it blocks, each of `fifos` is opened for writing and closed, which hands
    a reader stuck in open() or read() an end of file, so the thread finishes and leaves nothing behind.
    """
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in fifos:
            _release(fifo)
        thread.join(timeout)
        pytest.fail(f"still blocked after {timeout:.0f} s: reading a named pipe hangs")
    return outcome[0]


def _release(fifo: Path) -> None:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as error:  # ENXIO: no reader has it open, so nobody is stuck on it
        if error.errno != errno.ENXIO:
            raise
