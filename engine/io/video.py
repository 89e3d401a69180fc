"""Frames of a video file, decoded with OpenCV's FFmpeg backend, with exact random access and bounded memory.

Frame count: container metadata (`CAP_PROP_FRAME_COUNT`) is an estimate that is wrong for some files (variable
frame rate, damaged or truncated files), and a wrong count would misalign every matte after the error. So the
count is what decodes: opening a video decodes it once from end to end (`grab`, no colour conversion), which
costs about one playback of the file at decoder speed. A truncated video has as many frames as can be decoded.

Random access: reading forwards decodes sequentially; a short jump forwards decodes the frames in between; any
other jump seeks (`CAP_PROP_POS_FRAMES`, which the FFmpeg backend implements by seeking to the previous key
frame and decoding forwards). If the backend then reports a different position, the seek is not trusted and
the file is reopened and decoded up to the frame, which is slow but exact. Reading backwards (propagating from
a keyframe towards the start) would otherwise pay one seek per frame, so a backward jump decodes a block of
frames ending at the requested one and keeps it in a small cache; the cache holds at most `cache_bytes` of
frames (and at least one), so memory does not grow with the shot.

Names are the zero-based frame indices, zero-padded to five digits ("00000", "00001", ...), as DAVIS names
frames. An instance is not thread-safe: it owns one decoder positioned at one frame.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from engine.io.errors import InputError
from engine.io.images import to_display_rgb
from engine.io.sequence import FrameSequence

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
_MAX_SKIP_AHEAD = 16  # decoding up to this many frames beats a seek back to a key frame
_MAX_BLOCK = 32  # at most this many frames are decoded for one backward jump


class VideoFrames(FrameSequence):
    """The frames of one video file (see the module doc for counting, seeking and caching)."""

    def __init__(self, path: str | os.PathLike[str], cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.path = Path(path)
        capture = self._open()
        try:
            rate = capture.get(cv2.CAP_PROP_FPS)  # 0 (or NaN) where the container records none
            first, count = self._first_and_count(capture)
        finally:
            capture.release()
        self.size = (first.shape[1], first.shape[0])
        self.frame_rate = rate if rate > 0 else None
        width = max(5, len(str(count - 1)))
        self.names = tuple(f"{index:0{width}d}" for index in range(count))
        self.numbers = tuple(range(count))
        self._limit = max(1, min(_MAX_BLOCK, cache_bytes // max(1, first.nbytes)))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._capture: cv2.VideoCapture | None = None
        self._next = 0  # index of the frame the decoder reads next

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._cache.clear()

    def _read(self, index: int) -> np.ndarray:
        if index not in self._cache:
            if index < self._next:
                self._decode_block(max(0, index - self._limit + 1), index)
            else:
                self._decode_block(index, index)
        self._cache.move_to_end(index)
        return self._cache[index].copy()

    def _decode_block(self, start: int, stop: int) -> None:
        """Decode frames start..stop (inclusive) into the cache."""
        capture = self._seek(start)
        for index in range(start, stop + 1):
            ok, frame = capture.read()
            if not ok:
                self._next = -1  # position unknown: the next read seeks
                raise InputError(
                    f"video {self.path}: frame {index} cannot be decoded (file changed or damaged?)", self.path
                )
            self._next = index + 1
            frame = self._check_size(to_display_rgb(frame, self.path), f"{index} of video {self.path}", self.path)
            self._remember(index, frame)

    def _seek(self, index: int) -> cv2.VideoCapture:
        """The decoder, positioned so that its next `read` returns frame `index`."""
        if self._capture is None:
            self._capture, self._next = self._open(), 0
        capture = self._capture
        if 0 <= self._next <= index <= self._next + _MAX_SKIP_AHEAD:
            self._skip(capture, index - self._next)
            return capture
        if capture.set(cv2.CAP_PROP_POS_FRAMES, index) and int(capture.get(cv2.CAP_PROP_POS_FRAMES)) == index:
            return capture
        capture.release()
        self._capture, self._next = self._open(), 0
        self._skip(self._capture, index)
        return self._capture

    def _skip(self, capture: cv2.VideoCapture, count: int) -> None:
        target = self._next + count
        for _ in range(count):
            if not capture.grab():
                self._next = -1  # position unknown: the next read seeks
                raise InputError(f"video {self.path}: cannot decode up to frame {target}", self.path)
        self._next = target

    def _remember(self, index: int, frame: np.ndarray) -> None:
        self._cache[index] = frame
        self._cache.move_to_end(index)
        while len(self._cache) > self._limit:
            self._cache.popitem(last=False)

    def _open(self) -> cv2.VideoCapture:
        # Force FFmpeg: with automatic backend choice a name like "shot_%03d.avi" is read as an image pattern.
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise InputError(f"video {self.path} cannot be opened: not a video, or a codec OpenCV lacks", self.path)
        return capture

    def _first_and_count(self, capture: cv2.VideoCapture) -> tuple[np.ndarray, int]:
        ok, frame = capture.read()
        if not ok:
            raise InputError(f"video {self.path} has no decodable frames", self.path)
        first = to_display_rgb(frame, self.path)
        count = 1
        while capture.grab():
            count += 1
        return first, count
