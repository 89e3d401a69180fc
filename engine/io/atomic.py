"""Atomic file writes of the engine's outputs (mattes, label maps, confidence tables), with errors a user can act
on: `protocol.atomic` does the writing (a hidden temporary file in the same folder, fsynced, renamed over the
destination), this module says what went wrong in one line naming the path. A job killed half-way leaves either
the previous file or nothing, plus at worst one hidden temporary file, never a truncated output that Blender or a
compositor would happily load.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from engine.io.errors import OutputError
from protocol.atomic import create_temp, fsync_folder, replace_atomically, temp_name

__all__ = ["ensure_output_folder", "temp_name", "write_atomic_by_name", "write_bytes_atomic", "write_text_atomic"]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> Path:
    """Replace `path` with `data` atomically and durably; returns the path written."""
    path = Path(path)
    try:
        return replace_atomically(path, data)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_explain(error, path.parent)}", path) from error


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Replace `path` with UTF-8 `text` atomically (newlines are written as given, never translated)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def write_atomic_by_name(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden temporary path next to `path`, for a library that writes a file by name (a movie muxer seeks back
    to finish its file, so it cannot hand over bytes): moved over `path`, durably, when the block ends, removed
    when it raises. The same guarantee as `write_bytes_atomic`."""
    path = Path(path)
    try:
        temp, fd = create_temp(path)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_explain(error, path.parent)}", path) from error
    os.close(fd)
    try:
        yield temp
        _fsync_file(temp)
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write {path}: {_explain(error, path.parent)}", path) from error
        raise
    fsync_folder(path.parent)


def ensure_output_folder(folder: str | os.PathLike[str], create: bool = True) -> Path:
    """Make sure outputs can be written into `folder` before any work starts; returns it.

    Creates it (with parents) when `create` is true, then writes and removes a probe file, so a farm job fails
    in its first second rather than after an hour of propagation.
    """
    folder = Path(folder)
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError as error:
            raise OutputError(f"output folder {folder} exists and is not a folder", folder) from error
        except OSError as error:
            raise OutputError(f"cannot create output folder {folder}: {_reason(error)}", folder) from error
    probe = folder / "probe"
    try:
        temp, fd = create_temp(probe)
    except OSError as error:
        raise OutputError(f"cannot write {probe}: {_explain(error, folder)}", probe) from error
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(temp)
    return folder


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _explain(error: OSError, folder: Path) -> str:
    """What the user has to fix, from the OS's error while writing into `folder`."""
    if isinstance(error, FileNotFoundError):
        return f"output folder {folder} does not exist"
    if isinstance(error, NotADirectoryError):
        return f"{_not_a_folder(folder)} is not a folder"
    if isinstance(error, PermissionError):
        return f"output folder {folder} is not writable"
    if isinstance(error, FileExistsError):
        return f"could not create a temporary file in {folder}"
    return _reason(error)


def _not_a_folder(folder: Path) -> Path:
    """The first component of `folder` that exists but is not a folder (what the user has to fix)."""
    for candidate in (*reversed(folder.parents), folder):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return folder


def _reason(error: OSError) -> str:
    """The OS's own words for an error, without Python's `[Errno n]` prefix and repeated path."""
    if error.errno == errno.EACCES or isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)
