"""Atomic file writes, for the engine's outputs and the add-on's result cache alike: a reader, or a process killed
half-way, sees the old file or the whole new one, never a truncated frame.

The bytes go to a hidden temporary file in the destination's own folder (same file system, so the final rename
is atomic), are flushed and fsynced, then moved over the destination with `os.replace`, and the folder is
fsynced so the rename itself survives a power cut. The temporary file is removed on any failure, including
KeyboardInterrupt. Temporary names look like `.00012.3fa9c1d2.tmp.png`: the leading dot hides them from shell
globs and folder readers, the random part lets several writers share a folder, and the real extension stays
last for tools that sniff by extension. Failures are the OS's own `OSError`s; callers word them for their users.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

TEMP_ATTEMPTS = 16
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp(\.[^.]*)?")


def replace_atomically(path: Path, data: bytes | bytearray | memoryview) -> Path:
    """Replace `path` with `data` atomically and durably; returns the path written."""
    temp, fd = create_temp(path)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_folder(path.parent)
    return path


def create_temp(path: Path) -> tuple[Path, int]:
    """A fresh temporary file next to `path`, open for writing; mode 0o666 less the umask, like a plain `open`.

    Raises `FileExistsError` when `TEMP_ATTEMPTS` random names were all taken."""
    for _ in range(TEMP_ATTEMPTS):
        temp = temp_name(path, secrets.token_hex(4))
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def temp_name(path: Path, token: str) -> Path:
    """The hidden temporary name used while writing `path` (exposed so tools can recognise leftovers)."""
    return path.with_name(f".{path.stem}.{token}.tmp{path.suffix}")


def is_temp_name(name: str) -> bool:
    """Whether a file name is one `temp_name` makes: what a writer killed half-way leaves behind."""
    return _TEMP_NAME.fullmatch(name) is not None


def fsync_folder(folder: Path) -> None:
    """Persist a rename in `folder`. Best effort: Windows cannot open folders, some file systems refuse."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
