"""Errors for bad files: one line a user can act on, naming the file and what is wrong.

The command line prints `str(error)` and exits with code 2; the server turns it into a protocol error. Neither
should ever show a traceback, an OpenCV assertion or a numpy message for a file the user gave us, so every
bad-input path in `engine.io` ends in one of these.
"""

from __future__ import annotations

import os
import re

from engine.errors import EngineError


class InputError(EngineError):
    """A file or folder the engine was given is missing, unreadable, corrupt or does not fit the shot.

    `path` is the offending file when there is one, so a caller can report it as a field (for example in a
    protocol error) without parsing the message.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        # One line, always: the CLI prints the message as-is and log scrapers split on newlines.
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())
        self.path = None if path is None else os.fspath(path)


class OutputError(InputError):
    """An output could not be written: its folder is missing, not a folder, not writable, or the disk failed.

    A subclass of `InputError` because, to the user, it is the same kind of problem (an argument that names a
    place we cannot use) and it maps to the same exit code; callers that care can still tell them apart.
    """


class OutsideAllowedFolders(InputError):
    """A file opened for a caller that confines reading (a server's `--allow-root`) turned out to be elsewhere:
    a link in its path led out, perhaps one swapped in after the path was checked."""
