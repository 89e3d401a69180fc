"""The common face of a shot's frames, whatever stores them: length, indexing, names, size, a full check.

Sources (image files, video) subclass `FrameSequence` and implement `_read(index)`; indexing, iteration and
the size check live here once, so every source reports a bad frame the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.io.errors import InputError


class FrameSequence:
    """A read-only, indexable sequence of a shot's frames; subclasses say where the pixels come from."""

    path: Path
    names: tuple[str, ...]
    numbers: tuple[int, ...]
    size: tuple[int, int]
    frame_rate: float | None = None  # frames per second, where the source records one (a video's container)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame `index` (negative counts from the end) as HxWx3 uint8 RGB, display sRGB."""
        if not isinstance(index, int | np.integer):
            raise TypeError(f"frame indices are integers, not {type(index).__name__}")
        count = len(self)
        position = int(index) + count if index < 0 else int(index)
        if not 0 <= position < count:
            raise IndexError(f"frame {index} is out of range for {count} frames")
        return self._read(position)

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self._read(index)

    def check(self) -> None:
        """Decode every frame once and raise the first problem; costs a full read of the shot."""
        for _ in self:
            pass

    def close(self) -> None:
        """Release what the source holds open (a video decoder); reading afterwards reopens it."""

    def __enter__(self) -> FrameSequence:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Also shown for an instance whose constructor raised (tracebacks, debuggers): assume nothing is set.
        path, names, size = (getattr(self, name, None) for name in ("path", "names", "size"))
        if names is None or size is None:
            return f"<{type(self).__name__} {path} (not opened)>"
        return f"{type(self).__name__}({str(path)!r}, {len(names)} frames, {size[0]}x{size[1]})"

    def _read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def _check_size(self, frame: np.ndarray, label: str, path: str | os.PathLike[str]) -> np.ndarray:
        """`frame`, if it has the shot's size; `label` names it in the error ("frame <label> is ...")."""
        height, width = frame.shape[:2]
        if (width, height) != self.size:
            expected = f"{self.size[0]}x{self.size[1]}"
            raise InputError(f"frame {label} is {width}x{height} but the shot's frames are {expected}", path)
        return frame
