"""Exit codes, as farm managers read them (see docs/farm.md), and the one place errors become them."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable

from engine.errors import EngineError, EngineUnavailable, OutOfMemory

OK = 0
CHECK_FAILED = 1  # a benchmark that also checks (`bench soak`) found a fault
BAD_INPUT = 2  # usage, bad files, no checkpoint: retrying the same job cannot help
OUT_OF_MEMORY = 33  # OpenCue's convention: retry with more memory or a smaller resolution
TRANSIENT = 75  # EX_TEMPFAIL: retry as it is
INTERRUPTED = 130  # 128 + SIGINT
CANCELLED = 143  # 128 + SIGTERM

# OS errors that the same job can get past when retried later or elsewhere: a network file system that
# hiccuped or went stale, a full disk or quota. Any other OS error on a file the user named is bad input.
TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        *("EIO", "ESTALE", "ETIMEDOUT", "ENOLCK", "ENOSPC", "EDQUOT"),
        *("ECONNRESET", "ECONNABORTED", "ENETDOWN", "ENETUNREACH", "EHOSTDOWN", "EHOSTUNREACH"),
    )
    if hasattr(errno, name)
)


def run_reporting_errors(work: Callable[[], int]) -> int:
    """Run a command; an expected failure becomes one `error:` line on stderr and its exit code.

    Anything else is a bug and keeps its traceback.
    """
    try:
        return work()
    except Exception as error:
        code = exit_code_of(error)
        if code is None:
            raise
        return _report(error, code)


def exit_code_of(error: BaseException) -> int | None:
    """The exit code of an expected failure (bad input, a transient OS error, out of memory); None for a bug."""
    from engine.io import InputError  # numpy and OpenCV: loaded when a command runs, not for its `--help`

    if isinstance(error, OutOfMemory):
        return OUT_OF_MEMORY
    if isinstance(error, EngineUnavailable):
        return TRANSIENT
    if isinstance(error, (InputError, EngineError, ValueError, OSError)):
        if is_transient(error):
            return TRANSIENT
        if not isinstance(error, OSError):
            return BAD_INPUT
    return None


def is_transient(error: BaseException) -> bool:
    """Whether `error`, or an OS error it was raised from, is one of `TRANSIENT_ERRNOS`."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in TRANSIENT_ERRNOS:
            return True
        cause = cause.__cause__
    return False


def _report(error: Exception, code: int) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code
