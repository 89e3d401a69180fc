"""Atomic file writes: a reader sees the old file or the whole new one, never a truncated frame.

Every output of the engine (mattes, label maps, confidence tables) goes through `write_bytes_atomic`: the bytes
are written to a hidden temporary file in the destination's own folder (same file system, so the final rename
is atomic), flushed and fsynced, then moved over the destination with `os.replace`. A job killed half-way
leaves either the previous file or nothing, plus at worst one hidden temporary file, never a truncated output
that Blender or a compositor would happily load.

Temporary names look like `.00012.3fa9c1d2.tmp.png`: the leading dot hides them from shell globs, from
`glob.glob` and from our own folder reader; the random part lets several writers share a folder; the real
extension stays last so tools that sniff by extension still know the format.

Failures are `OutputError`s with one line naming the path. The temporary file is removed on any failure,
including KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from engine.io.errors import OutputError

_TEMP_ATTEMPTS = 16


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> Path:
    """Replace `path` with `data` atomically and durably; returns the path written."""
    path = Path(path)
    temp, fd = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write {path}: {_reason(error)}", path) from error
        raise
    _fsync_folder(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Replace `path` with UTF-8 `text` atomically (newlines are written as given, never translated)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


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
    temp, fd = _create_temp(folder / "probe")
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(temp)
    return folder


def temp_name(path: Path, token: str) -> Path:
    """The hidden temporary name used while writing `path` (exposed so tools can recognise leftovers)."""
    return path.with_name(f".{path.stem}.{token}.tmp{path.suffix}")


def _create_temp(path: Path) -> tuple[Path, int]:
    """Create a fresh temporary file next to `path`; mode 0o666 less the umask, like a plain `open`."""
    folder = path.parent
    for _ in range(_TEMP_ATTEMPTS):
        temp = temp_name(path, secrets.token_hex(4))
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        except FileNotFoundError as error:
            raise OutputError(f"cannot write {path}: output folder {folder} does not exist", path) from error
        except NotADirectoryError as error:
            raise OutputError(f"cannot write {path}: {_not_a_folder(folder)} is not a folder", path) from error
        except PermissionError as error:
            raise OutputError(f"cannot write {path}: output folder {folder} is not writable", path) from error
        except OSError as error:
            raise OutputError(f"cannot write {path}: {_reason(error)}", path) from error
        return temp, fd
    raise OutputError(f"cannot write {path}: could not create a temporary file in {folder}", path)


def _not_a_folder(folder: Path) -> Path:
    """The first component of `folder` that exists but is not a folder (what the user has to fix)."""
    for candidate in (*reversed(folder.parents), folder):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return folder


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself. Best effort: Windows cannot open folders, some file systems refuse."""
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


def _reason(error: OSError) -> str:
    """The OS's own words for an error, without Python's `[Errno n]` prefix and repeated path."""
    if error.errno == errno.EACCES or isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)
