"""The socket loop: one ROUTER for every client, polled by the main thread, which never waits on the device.

The main thread owns the ROUTER and answers everything itself (handshake, status, sessions, keyframes, acks,
frames, cancels) from the state in `Dispatcher`; the worker thread owns the model and computes. When the worker
has results it says so on an inproc PAIR socket, which wakes the poll at once; otherwise the poll wakes at least
every `TICK` seconds to retry sends, expire idle sessions and notice a stop request.

Any input at all becomes either a decoded message or a `ProtocolError`, answered with an `error` (with the
offending message's id as parent when its header could be read, an empty parent otherwise); the loop itself
never lets an exception out. SIGTERM or SIGINT sets a flag: the loop then stops the worker after the step in
progress, ends every stream with a cancelled summary, sends what it can for a moment, and closes the sockets.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import zmq

from engine.logs import event
from engine.model.afburr import AFBURR
from engine.server.config import EngineFacts, ServerConfig
from engine.server.dispatch import Dispatcher
from engine.server.outgoing import Outgoing
from engine.server.security import CurveSetup, make_curve_server, start_authenticator
from engine.server.worker import Worker
from protocol.errors import ProtocolError
from protocol.sockets import apply_common_options
from protocol.wire import Message, decode, encode

log = logging.getLogger("engine.server")

TICK = 0.1  # seconds between turns of the loop when nothing arrives
BATCH = 256  # messages read per turn before the streams are serviced again
EXPIRY_EVERY = 0.5  # seconds between idle-session sweeps
STOP_STEP_TIMEOUT = 60.0  # seconds a stop waits for the step in progress
FINAL_FLUSH = 1.0  # seconds a stop spends sending the last summaries


class Server:
    """A bound, ready server; `serve()` runs it until `stop()` (or a signal handler calling it)."""

    def __init__(self, config: ServerConfig, model: AFBURR, facts: EngineFacts, curve: CurveSetup | None) -> None:
        self.config = config
        self.context = zmq.Context()
        self._authenticator = start_authenticator(self.context, curve) if curve is not None else None
        try:
            self.router = self._bind_router(curve)
        except zmq.ZMQError:
            if self._authenticator is not None:
                self._authenticator.stop()
            self.context.destroy(linger=0)
            raise
        self.endpoint = self.router.get(zmq.LAST_ENDPOINT).decode()
        wake_address = f"inproc://engine-wake-{id(self)}"
        self._wake_in = self.context.socket(zmq.PAIR)
        self._wake_in.bind(wake_address)
        self._wake_out = self.context.socket(zmq.PAIR)  # used by the worker thread only
        self._wake_out.connect(wake_address)
        self.worker = Worker(model, self._wake)
        self.outgoing = Outgoing(self.router, self._client_gone)
        self.dispatcher = Dispatcher(config, facts, self.worker, self._send)
        self._stopping = False
        self._last_heard = time.monotonic()  # anything received, for `config.exit_when_unused`

    def stop(self, *_: object) -> None:
        """Ask the loop to stop (safe from a signal handler: it only sets a flag)."""
        self._stopping = True

    def serve(self, on_ready: Callable[[str], None] = lambda endpoint: None) -> None:
        """Run until stopped; `on_ready(endpoint)` is called once the worker runs and clients are answered."""
        self.worker.start()
        event(log, logging.INFO, "serving", endpoint=self.endpoint, device=self.dispatcher.facts.device)
        on_ready(self.endpoint)
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self._wake_in, zmq.POLLIN)
        next_sweep = time.monotonic() + EXPIRY_EVERY
        while not self._stopping:
            timeout = TICK / 10 if self.outgoing.backlog else TICK
            ready = dict(poller.poll(timeout * 1000))
            if self._wake_in in ready:
                self._drain_wakes()
            if self.router in ready:
                self._receive_batch()
            self.dispatcher.streams.service()
            self.outgoing.flush()
            if time.monotonic() >= next_sweep:
                self.dispatcher.expire(time.monotonic())
                next_sweep = time.monotonic() + EXPIRY_EVERY
                self._stop_if_unused()
        self._shut_down()

    def _stop_if_unused(self) -> None:
        limit = self.config.exit_when_unused
        unused = time.monotonic() - self._last_heard
        if limit is not None and not len(self.dispatcher.sessions) and unused >= limit:
            event(log, logging.INFO, "unused: stopping", seconds=round(unused, 1))
            self._stopping = True

    # --- receiving --------------------------------------------------------------------------------------

    def _receive_batch(self) -> None:
        for _ in range(BATCH):
            try:
                parts = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                self._receive(parts)
            except Exception:  # a bug: this message is lost, the server is not
                log.exception("a message could not be handled")

    def _receive(self, parts: Sequence[zmq.Frame]) -> None:
        self._last_heard = time.monotonic()
        client = parts[0].bytes
        try:
            message = decode(parts[1:], self.config.limits)
        except ProtocolError as error:
            self.dispatcher.answer_error(client, None, error)
            return
        self.dispatcher.handle(client, message, _curve_key(parts[-1]))

    def _drain_wakes(self) -> None:
        while True:
            try:
                self._wake_in.recv(zmq.NOBLOCK)
            except zmq.Again:
                return

    # --- sending ----------------------------------------------------------------------------------------

    def _send(self, client: bytes, message: Message) -> bool:
        return self.outgoing.send(client, encode(message))

    def _client_gone(self, client: bytes) -> None:
        self.dispatcher.streams.client_gone(client)

    def _wake(self) -> None:
        """Called by the worker: results are ready. A full pipe means a wake-up is already pending."""
        with contextlib.suppress(zmq.Again):
            self._wake_out.send(b"", zmq.NOBLOCK)

    # --- setup and teardown -----------------------------------------------------------------------------

    def _bind_router(self, curve: CurveSetup | None) -> zmq.Socket:
        router = self.context.socket(zmq.ROUTER)
        apply_common_options(router, self.config.limits)
        router.router_mandatory = 1  # a message to a vanished client raises instead of vanishing too
        if curve is not None:
            make_curve_server(router, curve)
        router.bind(self.config.bind)
        return router

    def _shut_down(self) -> None:
        event(log, logging.INFO, "stopping: finishing the step in progress")
        if not self.worker.stop(STOP_STEP_TIMEOUT):
            log.warning("the step in progress did not finish in %.0f s; stopping without it", STOP_STEP_TIMEOUT)
        self.dispatcher.shutdown()
        deadline = time.monotonic() + FINAL_FLUSH
        while self.outgoing.backlog and time.monotonic() < deadline:
            time.sleep(TICK / 10)
            self.outgoing.flush()
        for socket in (self.router, self._wake_in, self._wake_out):
            socket.close(linger=int(FINAL_FLUSH * 1000))
        if self._authenticator is not None:
            self._authenticator.stop()
        self.context.term()
        event(log, logging.INFO, "stopped")


def _curve_key(frame: zmq.Frame) -> bytes:
    """The CurveZMQ public key (Z85) the authenticator accepted for the sender of `frame`; b"" without CURVE."""
    try:
        return frame.get("User-Id").encode()
    except zmq.ZMQError:  # no ZAP handler: a loopback or ipc server without keys
        return b""
