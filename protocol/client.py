"""`EngineClient`: the one way the add-on, the CLI and the tests talk to an engine.

It owns a DEALER socket and is single-threaded by design (ZeroMQ sockets are not thread-safe). All work
happens in `poll()`, which never blocks: it sends what is queued, reads what has arrived, matches replies
to requests by `parent`, answers the engine's frame requests, acknowledges results and keeps the
heartbeat. A Blender timer calls `poll()` every 0.1 s; the blocking calls (`hello()`, `open_session()`,
iterating `PropagateJob.results()`) are the same machinery waiting on the socket between polls.

Liveness: while a propagate job or a request is outstanding, a silent engine is pinged every
`heartbeat_interval` seconds and declared gone (`ErrorCode.PEER_GONE`) after `heartbeat_liveness` intervals with
nothing heard; a request to an engine never heard on this connection has only its own `timeout` (nothing may be
listening yet). An engine that restarted at the same endpoint answers pings with another `engine_id` than the
one first heard, and everything outstanding fails at once: its sessions are gone.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import zmq

from protocol import messages as m
from protocol.curve import CurveKeys
from protocol.errors import ErrorCode, ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.liveness import Liveness
from protocol.sockets import apply_common_options
from protocol.stream import FrameProvider, PropagateJob
from protocol.version import PROTOCOL_MAJOR
from protocol.wire import Message, decode, encode, make

log = logging.getLogger(__name__)


class Pending:
    """A request waiting for its reply. `done` turns true with either `reply` or `error` set."""

    def __init__(self, request: Message, expected: str, deadline: float) -> None:
        self.request = request
        self.expected = expected
        self.deadline = deadline
        self.reply: Message | None = None
        self.error: ProtocolError | None = None

    @property
    def done(self) -> bool:
        return self.reply is not None or self.error is not None

    def result(self) -> Any:
        """The reply body; raises the error if the request failed."""
        if self.error is not None:
            raise self.error
        if self.reply is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, f"{self.request.msg_type} has no reply yet")
        return self.reply.body


class EngineClient:
    """A connection to one engine. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 10.0,
        heartbeat_interval: float = 1.0,
        heartbeat_liveness: int = 3,
        curve: CurveKeys | None = None,
        limits: Limits = DEFAULT_LIMITS,
        client_name: str = "maskprop-client",
        client_version: str = "",
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.limits = limits
        self.client_name = client_name
        self.client_version = client_version
        self.engine: m.HelloReply | None = None  # set by hello()
        self._socket = _connect(context or zmq.Context.instance(), endpoint, curve, limits)
        self._outbox: collections.deque[list[bytes | np.ndarray]] = collections.deque()  # encoded messages
        self._pending: dict[str, Pending] = {}
        self._jobs: dict[str, PropagateJob] = {}
        self._liveness = Liveness(heartbeat_interval, heartbeat_liveness, time.monotonic())

    # --- lifetime ---------------------------------------------------------------------------------------

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the connection; unsent messages are discarded and outstanding work fails."""
        if self._socket.closed:
            return
        self._socket.close(linger=0)
        gone = ProtocolError(ErrorCode.PEER_GONE, "the client was closed")
        self._fail_everything(gone)

    # --- requests ---------------------------------------------------------------------------------------

    def send_request(self, body: Any, *, session: str = "", timeout: float | None = None) -> Pending:
        """Queue a request and return at once; `poll()` completes the returned `Pending`."""
        kind = m.CATALOGUE[body.msg_type]
        if kind.sender != "client" or kind.reply is None:
            raise ValueError(f"{body.msg_type} is not a request")
        message = make(body, session=session)
        now = time.monotonic()
        if not self._pending and not self._jobs:
            self._liveness.asked(now)  # silence while nothing was asked is no sign of a dead engine
        pending = Pending(message, kind.reply, now + (self.timeout if timeout is None else timeout))
        self.queue(message)
        self._pending[message.header.msg_id] = pending
        self.poll()
        return pending

    def request(self, body: Any, *, session: str = "", timeout: float | None = None) -> Any:
        """Send a request and wait for its reply body; raises `ProtocolError` on error or timeout."""
        pending = self.send_request(body, session=session, timeout=timeout)
        self.wait_until(lambda: pending.done)
        return pending.result()

    def hello(self, timeout: float | None = None) -> m.HelloReply:
        """Handshake: the engine's versions, model and limits. Raises on a protocol version mismatch."""
        reply: m.HelloReply = self.request(
            m.Hello(client=self.client_name, client_version=self.client_version), timeout=timeout
        )
        major = reply.protocol_version.split(".", 1)[0]
        if major != str(PROTOCOL_MAJOR):
            raise ProtocolError(
                ErrorCode.VERSION_MISMATCH,
                f"the engine speaks protocol {reply.protocol_version}, this client speaks {PROTOCOL_MAJOR}.x",
            )
        self.engine = reply
        return reply

    def ping(self, timeout: float | None = None) -> float:
        """Round-trip time to the engine, in seconds."""
        start = time.monotonic()
        self.request(m.Ping(), timeout=timeout)
        return time.monotonic() - start

    def status(self, session: str = "", timeout: float | None = None) -> m.StatusReply:
        reply: m.StatusReply = self.request(m.Status(), session=session, timeout=timeout)
        return reply

    def open_session(self, shot: m.OpenSession, timeout: float | None = None) -> m.OpenSessionReply:
        reply: m.OpenSessionReply = self.request(shot, timeout=timeout)
        return reply

    def keyframe(self, session: str, keyframe: m.Keyframe, timeout: float | None = None) -> m.KeyframeReply:
        reply: m.KeyframeReply = self.request(keyframe, session=session, timeout=timeout)
        return reply

    def close_session(self, session: str, timeout: float | None = None) -> None:
        self.request(m.CloseSession(), session=session, timeout=timeout)

    def propagate(
        self,
        session: str,
        request: m.Propagate,
        *,
        frames: FrameProvider | None = None,
        colorspace: m.Colorspace = "srgb",
    ) -> PropagateJob:
        """Start propagating and return its job at once; results arrive through `poll()`.

        `frames(index)` supplies pixels when the session streams them (an H x W x 3 array); the client
        answers the engine's frame requests with it, so the caller never handles them.
        """
        message = make(request, session=session)
        now = time.monotonic()
        job = PropagateJob(self, message, frames, colorspace, now + self.timeout)
        self.queue(message)
        self._jobs[message.header.msg_id] = job
        self._liveness.asked(now)  # silence counts from here, not from the last job
        self.poll()
        return job

    def cancel(self, job: PropagateJob) -> None:
        """Ask the engine to stop `job` between frames; its stream then ends with a cancelled summary."""
        if not job.done:
            self.queue(make(m.Cancel(target=job.msg_id), session=job.session))
            job.cancel_requested = True
            self.poll()

    # --- the loop ---------------------------------------------------------------------------------------

    def poll(self) -> list[Message]:
        """Do all pending socket work without blocking; returns the messages that arrived."""
        if self._socket.closed:
            return []
        self._flush()
        arrived = self._receive_ready()
        self._keep_alive()
        self._flush()
        return arrived

    def wait_until(self, condition: Callable[[], bool], timeout: float | None = None) -> None:
        """Poll until `condition()` holds, sleeping on the socket in between (never busy-waits).

        Without `timeout` it relies on request deadlines and heartbeats to end: `condition` must become
        true when a request or job fails.
        """
        end = None if timeout is None else time.monotonic() + timeout
        self.poll()
        while not condition():
            if self._socket.closed:
                raise ProtocolError(ErrorCode.PEER_GONE, "the client was closed")
            now = time.monotonic()
            if end is not None and now >= end:
                raise ProtocolError(ErrorCode.TIMEOUT, f"nothing happened within {timeout:.1f} s")
            step = self._liveness.interval / 4
            wait = step if end is None else min(step, end - now)
            self._socket.poll(max(1, int(wait * 1000)), zmq.POLLIN)
            self.poll()

    # --- for PropagateJob (its `Connection`) ------------------------------------------------------------

    def queue(self, message: Message) -> None:
        """Send `message` on the next poll. Encoded now, so a body that cannot be sent fails its caller
        instead of blocking the queue."""
        self._outbox.append(encode(message))

    def forget(self, job: PropagateJob) -> None:
        """`job` has ended: messages naming it are no longer expected."""
        self._jobs.pop(job.msg_id, None)

    # --- internals --------------------------------------------------------------------------------------

    def _flush(self) -> None:
        while self._outbox:
            try:
                frames: Sequence[Any] = self._outbox[0]  # arrays are buffers to pyzmq; numpy's stubs do not say
                self._socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return  # the engine is not reading; try again on the next poll
            self._outbox.popleft()

    def _receive_ready(self) -> list[Message]:
        arrived: list[Message] = []
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return arrived
            self._liveness.heard(time.monotonic())
            message = self._decode(frames)
            if message is not None:
                arrived.append(message)
                self._dispatch(message)

    def _decode(self, frames: Sequence[zmq.Frame]) -> Message | None:
        try:
            return decode(frames, self.limits)
        except ProtocolError as error:
            if error.code == ErrorCode.VERSION_MISMATCH:
                self._fail_everything(error)  # nothing more can be understood on this connection
            elif error.header is not None and error.header.parent:
                self._fail(error.header.parent, error)
            else:
                log.warning("dropped an undecodable message from %s: %s", self.endpoint, error)
            return None

    def _dispatch(self, message: Message) -> None:
        parent = message.header.parent
        if message.msg_type in ("pong", "hello_reply"):
            self._check_engine_id(message.body.engine_id, answering=parent)
        if parent in self._pending:
            self._complete(self._pending.pop(parent), message)
        elif parent in self._jobs:
            self._jobs[parent].receive(message)
        elif message.msg_type == "error":
            log.warning("engine error %s: %s", message.body.code, message.body.message)
        elif message.msg_type != "pong":
            log.debug("ignored %s for %r (late or unknown)", message.msg_type, parent)

    @staticmethod
    def _complete(pending: Pending, message: Message) -> None:
        if message.msg_type == "error":
            pending.error = ProtocolError.from_body(message.body)
        elif message.msg_type != pending.expected:
            pending.error = ProtocolError(
                ErrorCode.BAD_MESSAGE, f"expected {pending.expected}, the engine sent {message.msg_type}"
            )
        else:
            pending.reply = message

    def _check_engine_id(self, engine_id: str, answering: str) -> None:
        """Another engine_id than the first means the engine restarted, and what it held is gone: all outstanding
        work fails, except the request this message answers (a hello to the new engine)."""
        if not self._liveness.restarted(engine_id):
            return
        restarted = ProtocolError(
            ErrorCode.PEER_GONE,
            f"the engine at {self.endpoint} restarted: its sessions and propagates are gone; start again",
        )
        for msg_id in [*self._pending, *self._jobs]:
            if msg_id != answering:
                self._fail(msg_id, restarted)

    def _fail(self, msg_id: str, error: ProtocolError) -> None:
        if msg_id in self._pending:
            self._pending.pop(msg_id).error = error
        elif msg_id in self._jobs:
            self._jobs[msg_id].fail(error)

    def _fail_everything(self, error: ProtocolError) -> None:
        for msg_id in list(self._pending) + list(self._jobs):
            self._fail(msg_id, error)

    def _keep_alive(self) -> None:
        """Time out requests, ping a quiet engine while work is outstanding, give up on a silent one."""
        now = time.monotonic()
        for msg_id, pending in list(self._pending.items()):
            if now >= pending.deadline:
                self._fail(msg_id, _timeout(pending.request.msg_type, self.timeout))
        for job in list(self._jobs.values()):
            job.check_deadline(now)
        if not self._jobs and not (self._pending and self._liveness.answered):
            return
        verdict = self._liveness.verdict(now)
        if verdict == "gone":
            silence = self._liveness.silence(now)
            self._fail_everything(
                ProtocolError(ErrorCode.PEER_GONE, f"the engine at {self.endpoint} is silent for {silence:.1f} s")
            )
        elif verdict == "ping":
            self.queue(make(m.Ping()))


def _timeout(msg_type: str, seconds: float) -> ProtocolError:
    return ProtocolError(ErrorCode.TIMEOUT, f"no reply to {msg_type} within {seconds:.1f} s")


def _connect(context: zmq.Context[Any], endpoint: str, curve: CurveKeys | None, limits: Limits) -> zmq.Socket[Any]:
    socket: zmq.Socket[Any] = context.socket(zmq.DEALER)
    apply_common_options(socket, limits)
    socket.reconnect_ivl = 100
    socket.reconnect_ivl_max = 32_000
    if curve is not None:
        curve.apply(socket)
    try:
        socket.connect(endpoint)
    except zmq.ZMQError as error:
        socket.close(linger=0)
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"cannot connect to {endpoint!r}: {error}") from None
    return socket


__all__ = ["CurveKeys", "EngineClient", "FrameProvider", "Pending", "PropagateJob"]
