"""The socket options both ends of the protocol use (docs/protocol.md, "Sockets").

Set in one place so the client and the engine cannot drift apart: the largest message either accepts,
small high-water marks (flow control is by credits; these are only a backstop), ZMTP heartbeats so a dead
TCP peer is noticed, and no lingering of unsent messages on close.
"""

from __future__ import annotations

from typing import Any

import zmq

from protocol.limits import Limits

HIGH_WATER_MARK = 64  # messages
HEARTBEAT_INTERVAL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000


def apply_common_options(socket: zmq.Socket[Any], limits: Limits) -> None:
    socket.linger = 0
    socket.maxmsgsize = limits.max_message_bytes
    socket.sndhwm = HIGH_WATER_MARK
    socket.rcvhwm = HIGH_WATER_MARK
    socket.heartbeat_ivl = HEARTBEAT_INTERVAL_MS
    socket.heartbeat_timeout = HEARTBEAT_TIMEOUT_MS
