"""Reading the files a user gave us, refusing anything that is not a regular file before it can block or flood us.

A named pipe opened for reading waits for a writer that may never come, and a device such as /dev/zero reads
forever; either would hang a render with no message. So every input file is checked with `stat` before it is
opened, opened without blocking, and checked again on the open descriptor (the name may have been swapped for
a pipe in between). Anything else is an `InputError` that says what the path is instead of a file.

Symbolic links are followed: a link to a regular file is a regular file here. Where links may point is the
caller's business: a server allowed only some folders passes `inside`, and the file actually opened (the one the
descriptor refers to, whatever links were swapped into its path after any earlier check) must satisfy it, or it
is refused before a byte is read.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from engine.io.errors import InputError, OutsideAllowedFolders

Inside = Callable[[str], bool]  # whether a fully resolved path is one the caller may read

# O_NONBLOCK makes opening a pipe return at once instead of waiting for a writer. It is cleared again once the
# descriptor is known to be a regular file, for the file systems that do not ignore it there.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0) | _O_NONBLOCK


def file_kind(mode: int) -> str | None:
    """What a `stat` mode is when it is not a regular file ("a folder", "a named pipe (FIFO)", ...), else None."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def require_regular_file(path: str | os.PathLike[str], what: str = "file") -> None:
    """Raise an InputError unless `path` is (or links to) a regular file; `what` names it ("frame", "mask")."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise _open_error(error, path, what) from error
    _check_mode(mode, path, what)


def read_file_bytes(path: str | os.PathLike[str], what: str = "file", inside: Inside | None = None) -> bytes:
    """The bytes of `path`, or an InputError saying why it cannot be read (`what` names it: "frame", "mask").

    With `inside`, the file the descriptor refers to must be one `inside` accepts (`OutsideAllowedFolders`
    otherwise).
    """
    path = Path(path)
    require_regular_file(path, what)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        raise _open_error(error, path, what) from error
    with os.fdopen(fd, "rb") as stream:
        try:
            _check_mode(os.fstat(fd).st_mode, path, what)
            if inside is not None and not inside(opened_path(fd, path)):
                raise OutsideAllowedFolders(f"{what} {path} leads outside the folders this engine may read", path)
            if _O_NONBLOCK:
                os.set_blocking(fd, True)
            return stream.read()
        except OSError as error:
            raise _open_error(error, path, what) from error


def opened_path(fd: int, path: Path) -> str:
    """The resolved path of the file open on `fd`: asked of the kernel where it says (Linux, macOS), so a link
    swapped into `path` after it was checked cannot fool it; elsewhere `path` resolved now, the best there is."""
    if sys.platform.startswith("linux"):
        return os.readlink(f"/proc/self/fd/{fd}")
    if sys.platform == "darwin":
        import fcntl

        return fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).rstrip(b"\0").decode()
    return os.path.realpath(path)


def _check_mode(mode: int, path: Path, what: str) -> None:
    kind = file_kind(mode)
    if kind is not None:
        raise InputError(f"{what} {path} is {kind}, not a file", path)


def _open_error(error: OSError, path: Path, what: str) -> InputError:
    """The InputError for an OSError met while checking, opening or reading `path`."""
    if isinstance(error, FileNotFoundError):
        target = _link_target(path)
        if target is not None:
            return InputError(f"{what} {path} is a link to {target}, which does not exist", path)
        return InputError(f"{what} {path} does not exist", path)
    if isinstance(error, IsADirectoryError):
        return InputError(f"{what} {path} is a folder, not a file", path)
    if isinstance(error, PermissionError):
        return InputError(f"{what} {path} is not readable (permission denied)", path)
    return InputError(f"{what} {path} cannot be read: {error.strerror or error}", path)


def _link_target(path: Path) -> str | None:
    """Where `path` points if it is a symbolic link (so a broken link is not reported as a missing file)."""
    try:
        return os.readlink(path)
    except (OSError, ValueError):
        return None
