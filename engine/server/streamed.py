"""Streamed frames: the pixels a client sends on request, read by the propagator as if they were a sequence.

The order in which a propagate reads frames is fixed by its plan: each pass reads its keyframe, then its
frames in order, so a "both" segment reads the frames between two keyframes twice, once per pass; one that
adapts (`adapt` in its options) first reads its keyframes. The server
computes that *access order* up front and requests frames in it, at most `window` ahead of the propagator.
Arrivals are stored by access position; the propagator's `frames[i]` takes the next position, which must be
frame `i` (anything else is a bug, not bad input, and fails the job as `internal`).

A propagator step reads at most two frames (a pass's first step reads its keyframe and its first frame), so a
job may step once its next two frames are stored; `ready()` says so. The worker thread reads while the socket
thread stores, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from engine.io.images import to_display_rgb
from engine.io.view import STANDARD, DisplayView
from engine.propagation.plan import Direction, plan
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError

READS_PER_STEP = 2


def access_order(
    keyframes: Sequence[int], first: int, last: int, direction: Direction, adapt: bool = False
) -> np.ndarray:
    """The frame indices a propagate reads, in the order it reads them (see the module doc); one that adapts
    first reads every keyframe before, in frame order, one a step."""
    order: list[int] = sorted(keyframes) if adapt else []
    for segment in plan(keyframes, first, last, direction):
        if segment.forward_from is not None:
            order += [segment.forward_from, *segment.forward_frames]
        if segment.backward_from is not None:
            order += [segment.backward_from, *segment.backward_frames]
    return np.array(order, dtype=np.int64)


class StreamedFrames(Sequence[np.ndarray]):
    """The frames of one propagate as they arrive; indexable by the propagator in access order."""

    def __init__(self, order: np.ndarray, frame_count: int, plate: tuple[int, int], window: int) -> None:
        self.order = order
        self.frame_count = frame_count
        self.plate = plate  # (height, width)
        self.window = window
        self.requested = 0  # access positions [0, requested) have been asked for
        self.consumed = 0  # access positions [0, consumed) have been read by the propagator
        self._arrived: dict[int, np.ndarray] = {}  # access position -> HxWx3 uint8 sRGB
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.frame_count

    def __getitem__(self, index):  # type: ignore[override]  # integer indices only, as the propagator uses
        with self._lock:
            position = self.consumed
            if position >= len(self.order) or self.order[position] != index or position not in self._arrived:
                raise RuntimeError(f"frame {index} was read out of the planned order (position {position})")
            self.consumed += 1
            return self._arrived.pop(position)

    def take_requests(self) -> list[int]:
        """The frame indices to request now, so that at most `window` are requested and not yet consumed."""
        with self._lock:
            end = min(len(self.order), self.consumed + self.window)
            start, self.requested = self.requested, max(self.requested, end)
            return [int(i) for i in self.order[start : self.requested]]

    def slot(self, index: int) -> int | None:
        """The first requested, unfilled access position of frame `index`; None if no request awaits it."""
        with self._lock:
            waiting = (p for p in range(self.consumed, self.requested) if p not in self._arrived)
            return next((p for p in waiting if self.order[p] == index), None)

    def fill(self, position: int, pixels: np.ndarray) -> None:
        """Store a frame at the position `slot` gave (only the socket thread fills, so it is still free)."""
        with self._lock:
            self._arrived[position] = pixels

    def ready(self) -> bool:
        """Whether the next propagator step finds every frame it may read."""
        with self._lock:
            end = min(len(self.order), self.consumed + READS_PER_STEP)
            return all(position in self._arrived for position in range(self.consumed, end))

    @property
    def stored(self) -> int:
        """Frames received and not yet read: what this propagate queues for the device."""
        return len(self._arrived)

    def clear(self) -> None:
        with self._lock:
            self._arrived.clear()


def frame_pixels(frame: m.Frame, plate: tuple[int, int], view: DisplayView = STANDARD) -> np.ndarray:
    """A `frame` message's pixels as the HxWx3 uint8 display-sRGB image the network reads (a copy).

    Grey is repeated to RGB and alpha dropped; uint16 is display-referred; floats are nominally 0..1. Linear
    values of any dtype go through the session's `view`, as `engine.io` does for EXR plates.
    """
    pixels = frame.pixels
    if pixels.shape[:2] != plate:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"frame {frame.index} is {pixels.shape[1]}x{pixels.shape[0]}, the session's plate is {plate[1]}x{plate[0]}",
            details={"field": "body.pixels.shape"},
        )
    rgb = pixels[:, :, :3]
    if frame.colorspace == "linear" and rgb.dtype.kind == "u":
        rgb = rgb.astype(np.float32) / np.iinfo(rgb.dtype).max
    elif frame.colorspace == "srgb" and rgb.dtype.kind == "f":
        rgb = np.rint(np.clip(np.nan_to_num(rgb.astype(np.float32)), 0, 1) * 255).astype(np.uint8)
    image = to_display_rgb(rgb[:, :, ::-1], view=view)  # engine.io reads OpenCV's BGR order: hand it BGR, get RGB back
    return np.require(image, requirements=["C", "W", "O"])  # own the pixels: the message's memory can go
