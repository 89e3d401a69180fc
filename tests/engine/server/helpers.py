"""Driving the real server in tests: a tiny shot, the requests the tests send for it, and waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protocol import messages as m
from protocol.client import EngineClient

FRAMES = 24


@dataclass(frozen=True)
class Shot:
    """A two-object 64x48 shot: PNG files under `folder/frames`, the same pixels in `frames`."""

    folder: Path
    frames: list[np.ndarray]
    labels: np.ndarray  # the mask of frame 0

    @property
    def height(self) -> int:
        return self.labels.shape[0]

    @property
    def width(self) -> int:
        return self.labels.shape[1]

    def pixels(self, index: int) -> np.ndarray:
        return self.frames[index]

    def open_request(self, source: m.FrameSource | None = None, frame_count: int = FRAMES) -> m.OpenSession:
        return m.OpenSession(
            frame_count=frame_count,
            width=self.width,
            height=self.height,
            objects=[m.ObjectSpec(id=1, name="red"), m.ObjectSpec(id=2, name="blue")],
            source=source or m.FrameSource(kind="stream"),
            name="test shot",
        )

    def open(self, client: EngineClient, source: m.FrameSource | None = None, keyframe: int = 0) -> str:
        """A new session with the mask as keyframe `keyframe`; returns its id."""
        session = client.open_session(self.open_request(source)).session
        client.keyframe(session, m.Keyframe(frame=keyframe, labels=self.labels))
        return session


def propagate_request(first: int = 0, last: int = FRAMES - 1, **fields) -> m.Propagate:
    """A propagate at the plate's native size (fast on a CPU) and 8-bit mattes."""
    fields.setdefault("direction", "forward")
    fields.setdefault("options", m.PropagateOptions(max_size=0))
    fields.setdefault("outputs", m.Outputs(matte_dtype="uint8"))
    return m.Propagate(first=first, last=last, **fields)


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; returns whether it held."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(step)
    return True
