"""What an operator chooses when starting the server, and what it tells clients about itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.choices import Precision

if TYPE_CHECKING:
    from protocol.limits import Limits

DEFAULT_BIND = "tcp://127.0.0.1:5557"


def _default_limits() -> Limits:
    """The protocol's limits, imported when a server is configured: the protocol package loads numpy, which
    `serve --help` must not wait for."""
    from protocol.limits import DEFAULT_LIMITS

    return DEFAULT_LIMITS


@dataclass(frozen=True)
class ServerConfig:
    bind: str = DEFAULT_BIND
    allow_roots: tuple[str, ...] = ()  # folders `files` sources may read; none: no file access at all
    max_sessions: int = 8
    max_sessions_per_client: int = 4  # so that one client (or a crashing one, reconnecting) cannot take every slot
    idle_timeout: float = 600.0  # seconds without a message naming a session before it is closed
    client_grace: float = 30.0  # seconds without anything from a session's client (pings too) before it is closed
    max_buffer_bytes: int = 2 * 1024**3  # keyframes, streamed frames and results held on the host
    frame_window: int = 4  # streamed frames requested ahead of the propagator (at least 2: a step may read 2)
    precision: Precision = "fp32"
    ocio_config: str = ""  # OpenColorIO config for views other than plain sRGB Standard; "" for none
    heartbeat_interval: float = 1.0
    # Stop after this many seconds with no session open and nothing received; None: serve until stopped. For an
    # engine that a farm session started and whose session may end without stopping it (a crashed worker agent).
    exit_when_unused: float | None = None
    limits: Limits = field(default_factory=_default_limits)

    def __post_init__(self) -> None:
        if not 1 <= self.max_sessions <= 100_000:  # the protocol's bounds on Capabilities.max_sessions
            raise ValueError("--max-sessions must be from 1 to 100000")
        if not 0 < self.idle_timeout <= 1e9:
            raise ValueError("--idle-timeout must be above 0 and at most 1e9 seconds")
        if self.exit_when_unused is not None and not 0 < self.exit_when_unused <= 1e9:
            raise ValueError("--exit-when-unused must be above 0 and at most 1e9 seconds")
        if not 0 < self.client_grace <= 1e9:
            raise ValueError("--client-grace must be above 0 and at most 1e9 seconds")
        if not 1 <= self.max_sessions_per_client <= 100_000:
            raise ValueError("--max-sessions-per-client must be from 1 to 100000")
        if not 2 <= self.frame_window <= 256:
            raise ValueError("--frame-window must be from 2 to 256")
        if self.max_buffer_bytes < 1:
            raise ValueError("--max-buffer-mb must be above 0")


@dataclass(frozen=True)
class EngineFacts:
    """What hello_reply and status_reply say about the loaded engine."""

    checkpoint: str  # the file name only: never a path on the engine's disk
    model: str  # the configuration's name, e.g. "afb-urr-r50"
    parameters: int
    device: str  # e.g. "cpu" or "cuda:0 (NVIDIA H200)"
