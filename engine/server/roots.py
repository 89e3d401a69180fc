"""The folders a client may make the server read: `--allow-root DIR`, nothing else.

A client names plates on the server's disk (`FrameSource(kind="files")`). The path is resolved first (`..`,
symbolic links, the folders of a pattern) and only then compared with the roots, themselves resolved at start,
so neither `..` nor a link inside a root that points outside gets through. Relative paths are refused: their
meaning would depend on the server's working folder, which the client neither knows nor controls. Every file a
source is made of is checked as well, because a folder or pattern inside a root can hold links to elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from protocol.errors import ErrorCode, ProtocolError


class AllowedRoots:
    """Resolved root folders; `confine` answers a path inside one of them or raises `forbidden`."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        self.roots: tuple[str, ...] = tuple(os.path.realpath(root) for root in roots)

    def __bool__(self) -> bool:
        return bool(self.roots)

    def confine(self, path: str | os.PathLike[str]) -> Path:
        """`path` fully resolved, if it lies inside a root; `forbidden` otherwise."""
        text = os.fspath(path)
        if not self.roots:
            raise _forbidden("this engine reads no files: its operator allowed no folder (--allow-root)")
        if "\0" in text:
            raise _forbidden("a path cannot contain a NUL character")
        if not os.path.isabs(text):
            raise _forbidden(f"{text!r} is not an absolute path")
        resolved = os.path.realpath(text)
        if not any(_inside(resolved, root) for root in self.roots):
            raise _forbidden(f"{text!r} is outside the folders this engine may read")
        return Path(resolved)

    def contains(self, resolved: str) -> bool:
        """Whether a fully resolved path lies inside a root: the check made again as each file is opened."""
        return any(_inside(resolved, root) for root in self.roots)

    def confine_all(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        """Check every file of a source (see the module doc); the first one outside decides."""
        for path in paths:
            self.confine(path)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _forbidden(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, message, details={"field": "body.source.path"})
