"""Sending on the ROUTER without ever blocking and without silently dropping anything.

The socket is `ROUTER_MANDATORY`, so a message to a connection that has gone raises `EHOSTUNREACH` instead of
vanishing, and a connection whose queue is at its high-water mark raises `EAGAIN`. A message that cannot go out
yet waits in that connection's queue and is retried on every turn of the loop, in order. A connection that has
gone, or whose queue stays full (a client that sends and never reads), is reported as gone: its queue is
dropped and its streams are cancelled. Credit-based flow control keeps these queues short for a well-behaved
client; the bound only stops a misbehaving one from growing the engine's memory.
"""

from __future__ import annotations

import errno
import logging
import time
from collections import deque
from collections.abc import Callable

import zmq

from engine.logs import event

log = logging.getLogger("engine.server.outgoing")

MAX_QUEUED = 1024  # messages waiting for one connection before it counts as gone
STALL_SECONDS = 60.0  # a queue that has not moved for this long belongs to a connection that has gone


class Outgoing:
    """Per-connection queues of encoded messages in front of one ROUTER socket."""

    def __init__(self, socket: zmq.Socket, on_gone: Callable[[bytes], None]) -> None:
        self.socket = socket
        self.on_gone = on_gone  # called (once per loss) with the routing id of a connection that has gone
        self._queues: dict[bytes, deque[list]] = {}
        self._moved: dict[bytes, float] = {}  # when each queue last sent something

    @property
    def backlog(self) -> bool:
        return bool(self._queues)

    def send(self, client: bytes, parts: list) -> bool:
        """Queue a message and send what the connection takes; False if the connection has gone."""
        queue = self._queues.setdefault(client, deque())
        self._moved.setdefault(client, time.monotonic())
        if len(queue) >= MAX_QUEUED:
            return self._gone(client, "its send queue is full")
        queue.append([client, *parts])
        return self._flush(client)

    def flush(self) -> None:
        """Retry every waiting queue; drop those stalled for `STALL_SECONDS`."""
        now = time.monotonic()
        for client in list(self._queues):
            if self._flush(client) and client in self._queues and now - self._moved[client] > STALL_SECONDS:
                self._gone(client, f"nothing could be sent to it for {STALL_SECONDS:.0f} s")

    def _flush(self, client: bytes) -> bool:
        queue = self._queues[client]
        while queue:
            try:
                self.socket.send_multipart(queue[0], flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return True  # its queue is full: try again on the next turn
            except zmq.ZMQError as error:
                if error.errno != errno.EHOSTUNREACH:
                    raise
                return self._gone(client, "its connection has gone")
            queue.popleft()
            self._moved[client] = time.monotonic()
        del self._queues[client]
        del self._moved[client]
        return True

    def _gone(self, client: bytes, reason: str) -> bool:
        dropped = len(self._queues.pop(client, ()))
        self._moved.pop(client, None)
        event(log, logging.INFO, "client gone", client=client.hex(), reason=reason, dropped=dropped)
        self.on_gone(client)
        return False
