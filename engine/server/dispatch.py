"""Every request the server answers, against its sessions; nothing here waits on the device or the network.

The socket thread hands each decoded message to `Dispatcher.handle`. Requests are answered at once, with
their reply or an `error` whose `parent` is the request; streamed messages (`frame`, `ack`) feed the running
propagate. A handler reports a refusal by raising `ProtocolError`, so one place turns all of them into error
replies, and a bug in a handler becomes an `internal` error for that request, not a dead server.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

import torch

from engine.logs import event
from engine.propagation.plan import plan
from engine.propagation.propagator import Settings
from engine.server.config import EngineFacts, ServerConfig
from engine.server.errors import from_protocol_error
from engine.server.hello import hello_reply
from engine.server.jobs import ServerJob
from engine.server.keyframes import keyframe_labels
from engine.server.labels import present_objects
from engine.server.results import result_bytes
from engine.server.roots import AllowedRoots
from engine.server.sessions import MemoryBudget, Session, SessionTable
from engine.server.settings import settings_for
from engine.server.sources import open_file_source, source_view
from engine.server.streamed import StreamedFrames, access_order
from engine.server.streams import Send, Streams
from engine.server.worker import Worker
from protocol import messages as m
from protocol.errors import ErrorCode, ProtocolError
from protocol.wire import Message, make, reply

log = logging.getLogger("engine.server")


class Sender(NamedTuple):
    """Who sent a message: the connection replies go to, and the owner its sessions belong to (the client's
    CurveZMQ key where the server has one, else the connection)."""

    connection: bytes
    owner: bytes


Handler = Callable[[Sender, Message], None]


class Dispatcher:
    def __init__(self, config: ServerConfig, facts: EngineFacts, worker: Worker, send: Send) -> None:
        self.config = config
        self.facts = facts
        self.send = send
        self.roots = AllowedRoots(config.allow_roots)
        self.sessions = SessionTable(
            config.max_sessions, config.idle_timeout, config.max_sessions_per_client, config.client_grace
        )
        self.budget = MemoryBudget(config.max_buffer_bytes)
        self.streams = Streams(worker, self.budget, send)
        self.device = next(worker.model.parameters()).device
        self.started = time.monotonic()
        self.engine_id = secrets.token_hex(8)  # this process: clients tell a restarted engine by it
        self._handlers: dict[str, Handler] = {
            "hello": self._hello,
            "ping": self._ping,
            "status": self._status,
            "open_session": self._open_session,
            "keyframe": self._keyframe,
            "close_session": self._close_session,
            "propagate": self._propagate,
            "cancel": self._cancel,
            "frame": self._frame,
            "ack": self._ack,
        }

    # --- entry points -----------------------------------------------------------------------------------

    def handle(self, client: bytes, message: Message, owner: bytes = b"") -> None:
        """Answer or apply one decoded message from connection `client`; never raises.

        `owner` is who sent it: the client's CurveZMQ key where the server has one, else the connection. A session
        belongs to its owner: a message from anyone else naming it is answered as if it did not exist, so a
        session id read from a log or guessed lets nobody else add keyframes to it or close it.
        """
        header, now, owner = message.header, time.monotonic(), owner or client
        self.sessions.heard(client, now)
        session = self.sessions.find(header.session) if header.session else None
        if session is not None and session.owner != owner:
            self.answer_error(client, message, self.sessions.unknown(header.session))
            return
        if session is not None and message.msg_type != "ping":
            session.last_activity, session.client = now, client
        handler = self._handlers.get(message.msg_type)
        if handler is None:
            self._refuse_engine_message(client, message)
            return
        try:
            handler(Sender(client, owner), message)
        except ProtocolError as error:
            self.answer_error(client, message, error)
        except Exception as error:  # a bug in a handler: this request fails, the server goes on
            log.exception("request failed", extra={"fields": {"session": header.session, "type": message.msg_type}})
            self.answer_error(client, message, ProtocolError(ErrorCode.INTERNAL, f"the engine failed: {error}"))

    def answer_error(self, client: bytes, message: Message | None, error: ProtocolError) -> None:
        """An `error` reply to `message` (None: its header could not be read, so the parent stays empty)."""
        header = message.header if message is not None else error.header
        body = from_protocol_error(error)
        session, parent = (header.session, header.msg_id) if header is not None else ("", "")
        self.send(client, make(body, session=session, parent=parent))
        event(log, logging.INFO, "refused", session=session, code=body.code, reason=body.message[:200])

    def expire(self, now: float) -> None:
        for session in self.sessions.expired(now):
            event(log, logging.INFO, "session expired", session=session.id, idle_s=round(now - session.last_activity))
            self._release(session, "expired")

    def shutdown(self) -> None:
        """End every stream with a cancelled summary (the loop has stopped reading requests)."""
        for job in list(self.streams.jobs.values()):
            self.streams.cancel(job, "shutdown")

    # --- handshake, liveness, status --------------------------------------------------------------------

    def _hello(self, sender: Sender, message: Message) -> None:
        body: m.Hello = message.body
        event(log, logging.INFO, "hello", client=body.client, client_version=body.client_version)
        self._reply(sender, message, hello_reply(self.config, self.facts, self.engine_id))

    def _ping(self, sender: Sender, message: Message) -> None:
        self._reply(sender, message, m.Pong(engine_id=self.engine_id))

    def _status(self, sender: Sender, message: Message) -> None:
        named = message.header.session
        session = self.sessions.get(named).status() if named else None
        used, total = _device_memory(self.device)
        self._reply(
            sender,
            message,
            m.StatusReply(
                sessions=len(self.sessions),
                max_sessions=self.config.max_sessions,
                queued_frames=self.streams.queued_frames,
                device=self.facts.device,
                uptime_s=time.monotonic() - self.started,
                device_memory_used=used,
                device_memory_total=total,
                session=session,
            ),
        )

    # --- sessions ---------------------------------------------------------------------------------------

    def _open_session(self, sender: Sender, message: Message) -> None:
        shot: m.OpenSession = message.body
        self._check_capabilities(shot)
        self.sessions.check_room(time.monotonic(), sender.owner)
        view = source_view(shot, self.config.ocio_config)
        frames = open_file_source(shot, self.roots, view) if shot.source.kind == "files" else None
        session = self.sessions.add(shot, frames, view, sender.owner, sender.connection)
        event(
            log,
            logging.INFO,
            "session opened",
            session=session.id,
            name=shot.name,
            size=f"{shot.width}x{shot.height}",
            frames=shot.frame_count,
            objects=len(shot.objects),
            source=shot.source.kind,
            view=view.describe(),
        )
        self._reply(sender, message, m.OpenSessionReply(session.id, self.config.frame_window, self.config.idle_timeout))

    def _keyframe(self, sender: Sender, message: Message) -> None:
        body: m.Keyframe = message.body
        session = self._idle_session(message)
        _check_frame(body.frame, session, "body.frame")
        labels = keyframe_labels(body, session.plate, session.object_ids)
        previous = session.keyframes.get(body.frame)
        self.budget.reserve(labels.nbytes - (0 if previous is None else previous.nbytes), "a keyframe")
        invalidated = session.invalidated_by(body.frame)
        session.keyframes[body.frame] = labels
        objects = present_objects(labels)
        event(log, logging.INFO, "keyframe", session=session.id, frame=body.frame, invalidated=invalidated)
        self._reply(sender, message, m.KeyframeReply(frame=body.frame, objects=objects, invalidated=invalidated))

    def _close_session(self, sender: Sender, message: Message) -> None:
        session = self.sessions.get(message.header.session)
        self._release(session, "closed")
        event(log, logging.INFO, "session closed", session=session.id)
        self._reply(sender, message, m.CloseSessionReply())

    def _release(self, session: Session, reason: str) -> None:
        """Cancel the session's propagate (its summary goes out first) and free everything it holds."""
        if session.job is not None:
            self.streams.cancel(session.job, reason)
        self.budget.release(session.keyframe_bytes)
        session.keyframes.clear()
        self.sessions.remove(session)
        if session.frames is not None:
            self.streams.worker.retire(session.frames)  # closed between steps: a step may be reading it

    # --- propagation ------------------------------------------------------------------------------------

    def _propagate(self, sender: Sender, message: Message) -> None:
        request: m.Propagate = message.body
        session = self._idle_session(message)
        _check_frame(request.first, session, "body.first")
        _check_frame(request.last, session, "body.last")
        promised = _frames_reached(session, request)
        per_result = result_bytes(len(session.object_ids), *session.plate, request.outputs)
        if per_result > self.config.limits.max_message_bytes:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"one result would take {per_result} bytes, more than max_message_bytes "
                f"{self.config.limits.max_message_bytes}: ask for uint8 mattes or fewer outputs",
            )
        settings = self._settings(request)
        frames = session.frames if session.frames is not None else self._streamed(session, request, settings)
        reserved = request.window * per_result
        if isinstance(frames, StreamedFrames):
            reserved += frames.window * session.plate[0] * session.plate[1] * 3
        self.budget.reserve(reserved, "this propagate")
        job = ServerJob(message, sender.connection, session, frames, session.keyframes, settings, promised, reserved)
        self._reply(sender, message, m.PropagateReply(frames=promised))
        self.streams.start(job)

    def _streamed(self, session: Session, request: m.Propagate, settings: Settings) -> StreamedFrames:
        keyframes, adapt = list(session.keyframes), settings.adapt > 0
        order = access_order(keyframes, request.first, request.last, request.direction, adapt)
        return StreamedFrames(order, session.shot.frame_count, session.plate, self.config.frame_window)

    def _settings(self, request: m.Propagate) -> Settings:
        """The propagator's settings for a request.

        The protocol's bounds are the engine's, so a decoded request always fits; should the two drift apart,
        the request is refused with `invalid_field` instead of failing inside the worker.
        """
        try:
            return settings_for(request, self.config.precision, self.config.limits.max_list_items)
        except ValueError as error:
            raise ProtocolError(ErrorCode.INVALID_FIELD, str(error), details={"field": "body.options"}) from None

    def _cancel(self, sender: Sender, message: Message) -> None:
        target = message.body.target
        session = self.sessions.get(message.header.session)
        job = session.job
        cancelled = job is not None and target in ("", job.msg_id)
        if cancelled:
            self.streams.cancel(job, "cancel")
        self._reply(sender, message, m.CancelReply(cancelled=cancelled))

    def _frame(self, sender: Sender, message: Message) -> None:
        job = self._stream_job(message)
        if job is not None:
            self.streams.frame(job, message)

    def _ack(self, sender: Sender, message: Message) -> None:
        job = self._stream_job(message)
        if job is not None:
            self.streams.ack(job, message.body.received)

    def _stream_job(self, message: Message) -> ServerJob | None:
        """The running propagate a frame or ack belongs to; None for one that has ended (they race)."""
        job = self.sessions.get(message.header.session).job
        return job if job is not None and job.msg_id == message.header.parent else None

    # --- helpers ----------------------------------------------------------------------------------------

    def _idle_session(self, message: Message) -> Session:
        """The session a keyframe or propagate names, which must not be propagating now."""
        session = self.sessions.get(message.header.session)
        if session.job is not None:
            running = "a propagate is running in this session"
            raise ProtocolError(ErrorCode.INVALID_STATE, f"{running}: cancel it before a {message.msg_type}")
        return session

    def _reply(self, sender: Sender, request: Message, body: object) -> None:
        self.send(sender.connection, reply(request, body))

    def _check_capabilities(self, shot: m.OpenSession) -> None:
        limits = self.config.limits
        if shot.width > limits.max_frame_width or shot.height > limits.max_frame_height:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"a {shot.width}x{shot.height} plate exceeds {limits.max_frame_width}x{limits.max_frame_height}",
            )
        if len(shot.objects) > limits.max_objects:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"{len(shot.objects)} objects exceed {limits.max_objects}")

    def _refuse_engine_message(self, client: bytes, message: Message) -> None:
        """A client sent a type only the engine sends: `unknown_type`, except that an `error` is never answered."""
        if message.msg_type == "error":
            event(log, logging.INFO, "dropped an error sent by a client", session=message.header.session)
            return
        error = ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"{message.msg_type} is sent by the engine, not to it",
            details={"msg_type": message.msg_type},
        )
        self.answer_error(client, message, error)


def _check_frame(index: int, session: Session, field: str) -> None:
    if index >= session.shot.frame_count:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"frame {index} is past the session's {session.shot.frame_count} frames",
            details={"field": field},
        )


def _frames_reached(session: Session, request: m.Propagate) -> int:
    """Results the propagate will send: every frame a pass fills, plus the keyframes inside the range."""
    if not session.keyframes:
        raise ProtocolError(ErrorCode.INVALID_STATE, "the session has no keyframe to propagate from")
    keys = sorted(session.keyframes)
    inside = sum(request.first <= key <= request.last for key in keys)
    filled = sum(len(s.outputs) for s in plan(keys, request.first, request.last, request.direction))
    if filled + inside == 0:
        raise ProtocolError(ErrorCode.INVALID_STATE, "no keyframe reaches that range in that direction")
    return filled + inside


def _device_memory(device: torch.device) -> tuple[int, int]:
    """Bytes allocated and in total on a CUDA device; (0, 0) on the CPU, where the protocol says "unknown"."""
    if device.type != "cuda":
        return 0, 0
    return torch.cuda.memory_allocated(device), torch.cuda.get_device_properties(device).total_memory
