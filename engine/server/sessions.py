"""Sessions: one shot each, with its keyframes, frame source and running propagate; and the caps on them.

A session lives until it is closed or expires: when no message has named it for `idle_timeout` seconds (a
client that vanished, an artist who went home), it is closed and everything it holds is released. Two caps
keep a shared engine answering instead of swapping: the number of open sessions, and a memory budget for what
sessions buffer on the host (keyframe masks, streamed frames waiting for the device, results waiting for the
client). At a cap the engine answers `busy` with a `retry_after` hint instead of queueing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.io import FrameSequence
from engine.io.view import STANDARD, DisplayView
from engine.learning.adaptation import Learned
from engine.propagation.plan import affected_range
from engine.server.jobs import ServerJob
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError

MEMORY_RETRY_AFTER = 2.0  # seconds: about a frame's time on a loaded device, after which buffers have moved


def busy(message: str, retry_after: float) -> ProtocolError:
    return ProtocolError(ErrorCode.BUSY, message, details={"retry_after": round(retry_after, 3)})


class MemoryBudget:
    """Bytes that sessions may hold on the host; a reservation that does not fit is refused with `busy`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def reserve(self, nbytes: int, what: str) -> None:
        if self.used + nbytes > self.capacity:
            raise busy(
                f"{what} needs {_mib(nbytes)} of buffer memory, {_mib(self.capacity - self.used)} of "
                f"{_mib(self.capacity)} is free (--max-buffer-mb)",
                MEMORY_RETRY_AFTER,
            )
        self.used += nbytes

    def release(self, nbytes: int) -> None:
        self.used = max(0, self.used - nbytes)


@dataclass
class Session:
    """One open shot. Only the socket thread touches it; its running job is shared with the worker."""

    id: str
    shot: m.OpenSession
    frames: FrameSequence | None  # the files source; None when the client streams frames
    last_activity: float
    view: DisplayView = STANDARD  # how scene-linear frames become display pixels
    owner: bytes = b""  # who opened it: the client's CurveZMQ key, else its connection; nobody else may use it
    client: bytes = b""  # the connection it was last used from, whose silence closes it
    keyframes: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> label map at plate size
    job: ServerJob | None = None
    frames_done: int = 0
    delivered: tuple[int, int] | None = None  # the lowest and highest frame that has received a result
    directions: set[str] = field(default_factory=set)  # of the propagates that delivered results
    learned: Learned | None = None  # the network its propagates adapted to its keyframes: one copy at most

    @property
    def plate(self) -> tuple[int, int]:
        return self.shot.height, self.shot.width

    @property
    def object_ids(self) -> tuple[int, ...]:
        """The declared objects, in open_session order."""
        return tuple(obj.id for obj in self.shot.objects)

    @property
    def keyframe_bytes(self) -> int:
        return sum(labels.nbytes for labels in self.keyframes.values())

    def record_delivery(self, frame: int, direction: str) -> None:
        self.frames_done += 1
        low, high = self.delivered or (frame, frame)
        self.delivered = (min(low, frame), max(high, frame))
        self.directions.add(direction)

    def invalidated_by(self, frame: int) -> list[int]:
        """The delivered frames whose results a new keyframe at `frame` changes: [first, last] or []."""
        if self.delivered is None:
            return []
        direction = next(iter(self.directions)) if len(self.directions) == 1 else "both"
        affected = affected_range(list(self.keyframes), frame, *self.delivered, direction)  # type: ignore[arg-type]
        return [] if affected is None else list(affected)

    def status(self) -> m.SessionStatus:
        state = "propagating" if self.job is not None else "idle"
        return m.SessionStatus(state=state, keyframes=sorted(self.keyframes), frames_done=self.frames_done)


class SessionTable:
    """The open sessions, their caps (over all clients and per client) and their expiry.

    A session expires when no message has named it for `idle_timeout`, or when nothing at all, pings included,
    has come from its client's connection for `client_grace`: a crashed client's sessions are freed in seconds,
    not after the idle time-out, so crashing clients cannot hold every slot.
    """

    def __init__(
        self, max_sessions: int, idle_timeout: float, max_per_client: int | None = None, client_grace: float = 30.0
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.max_per_client = max_per_client or max_sessions
        self.client_grace = client_grace
        self._sessions: dict[str, Session] = {}
        self._heard: dict[bytes, float] = {}  # connection -> when anything last came from it

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self):
        return iter(list(self._sessions.values()))

    def heard(self, client: bytes, now: float) -> None:
        """Something came from connection `client`: its sessions live on."""
        self._heard[client] = now

    def check_room(self, now: float, owner: bytes) -> None:
        """Raise `busy` at either cap, with the time until a session that counts expires (if none is used) as the
        hint."""
        own = [s for s in self._sessions.values() if s.owner == owner]
        if len(own) >= self.max_per_client:
            raise busy(
                f"this client has {len(own)} sessions open, the limit per client is {self.max_per_client}",
                self._retry_after(own, now),
            )
        if len(self._sessions) >= self.max_sessions:
            raise busy(
                f"{len(self._sessions)} sessions are open, the limit is {self.max_sessions}",
                self._retry_after(self._sessions.values(), now),
            )

    def add(
        self, shot: m.OpenSession, frames: FrameSequence | None, view: DisplayView, owner: bytes, client: bytes
    ) -> Session:
        now = time.monotonic()
        session = Session(uuid.uuid4().hex, shot, frames, now, view, owner, client)
        self._sessions[session.id] = session
        self._heard[client] = now
        return session

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise self.unknown(session_id)
        return session

    @staticmethod
    def unknown(session_id: str) -> ProtocolError:
        """The answer for a session that does not exist, or that belongs to someone else (the same words). The id
        is not repeated: the answer goes to the log too, which must not hold session ids."""
        what = "the session this names is not open" if session_id else "this request names no session"
        return ProtocolError(ErrorCode.UNKNOWN_SESSION, f"{what}: never opened, closed, expired, or another client's")

    def find(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def remove(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def expired(self, now: float) -> list[Session]:
        """The sessions to close now: idle too long, or their client silent too long. Forgets silent clients."""
        due = [s for s in self._sessions.values() if self._expires_at(s) < now]
        self._heard = {client: at for client, at in self._heard.items() if now - at <= self.client_grace}
        return due

    def _expires_at(self, session: Session) -> float:
        heard = self._heard.get(session.client, session.last_activity)
        return min(session.last_activity + self.idle_timeout, heard + self.client_grace)

    def _retry_after(self, sessions: Iterable[Session], now: float) -> float:
        soonest = min(self._expires_at(s) for s in sessions) - now
        return min(max(soonest, 1.0), 60.0)


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"
