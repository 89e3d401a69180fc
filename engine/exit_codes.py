"""Exit codes, as farm managers read them (see docs/farm.md), and the one place errors become them."""

from __future__ import annotations

import sys
from collections.abc import Callable

from engine.errors import EngineError, OutOfMemory
from engine.io import InputError

OK = 0
BAD_INPUT = 2  # usage, bad files, no checkpoint: retrying the same job cannot help
OUT_OF_MEMORY = 33  # OpenCue's convention: retry with more memory or a smaller resolution
TRANSIENT = 75  # EX_TEMPFAIL: retry as it is
CANCELLED = 143  # 128 + SIGTERM


def run_reporting_errors(work: Callable[[], int]) -> int:
    """Run a command; an expected failure becomes one `error:` line on stderr and its exit code.

    Anything else is a bug and keeps its traceback.
    """
    try:
        return work()
    except OutOfMemory as error:
        return _report(error, OUT_OF_MEMORY)
    except (InputError, EngineError, ValueError) as error:
        return _report(error, BAD_INPUT)


def _report(error: Exception, code: int) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code
