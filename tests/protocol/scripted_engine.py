"""A small real ZeroMQ peer that speaks the protocol, for testing the client without the engine.

It runs a ROUTER socket in a thread and plays a scripted engine: it answers the handshake and requests,
streams deterministic results (the matte is the streamed frame's red channel thresholded), honours the
result window and the frame window, stops between frames on cancel, and can misbehave on purpose: stay
silent, slow to answer the handshake, busy (with a `retry_after`) a number of times, speak another protocol
version, or vanish in the middle of a stream.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from protocol import messages as m
from protocol.limits import DEFAULT_LIMITS
from protocol.version import PROTOCOL_VERSION, TAG
from protocol.wire import Message, decode, encode, reply

SESSION = "session-1"
FRAME_WINDOW = 2


@dataclass
class Stream:
    """One propagate the engine is working through."""

    client: bytes
    request: Message
    frames: list[int]
    requested: set[int] = field(default_factory=set)
    pixels: dict[int, np.ndarray] = field(default_factory=dict)
    sent: int = 0
    acked: int = 0
    cancelled: bool = False


class ScriptedEngine:
    def __init__(
        self,
        *,
        tag: bytes = TAG,
        silent: bool = False,
        vanish_after: int | None = None,
        seconds_per_frame: float = 0.0,
        hello_delay: float = 0.0,
        busy_answers: int = 0,
        retry_after: float = 0.3,
        curve_secret_key: bytes | None = None,
        curve_public_key: bytes | None = None,
        engine_id: str = "",
        port: int = 0,
    ) -> None:
        self.tag = tag
        self.silent = silent
        self.vanish_after = vanish_after
        self.seconds_per_frame = seconds_per_frame
        self.hello_delay = hello_delay
        self.busy_answers = busy_answers  # open_session answers `busy` this many times first
        self.retry_after = retry_after
        self.engine_id = engine_id  # what hello_reply and pong say; a restarted engine says another
        self.received: list[Message] = []
        self.max_unacked = 0
        self._stream: Stream | None = None
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.linger = 0
        if curve_secret_key is not None:
            self._socket.curve_server = True
            self._socket.curve_secretkey = curve_secret_key
            self._socket.curve_publickey = curve_public_key
        if port:  # the port of an engine that was there before: a restart at the same endpoint
            self._socket.bind(f"tcp://127.0.0.1:{port}")
        else:
            port = self._socket.bind_to_random_port("tcp://127.0.0.1")
        self.port = port
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._run, name="scripted-engine", daemon=True)

    def __enter__(self) -> ScriptedEngine:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._context.destroy(linger=0)

    @property
    def sent_results(self) -> int:
        return 0 if self._stream is None else self._stream.sent

    def types_received(self) -> list[str]:
        return [message.msg_type for message in self.received]

    # --- the loop -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._socket.poll(5, zmq.POLLIN):
                client, *frames = self._socket.recv_multipart()
                self._handle(client, decode(frames, DEFAULT_LIMITS))
            if self._stream is not None and not self._advance(self._stream):
                return  # vanished on purpose

    def _send(self, client: bytes, message: Message) -> None:
        frames = encode(message)
        self._socket.send_multipart([client, self.tag, *frames[1:]], copy=False)

    def _handle(self, client: bytes, message: Message) -> None:
        self.received.append(message)
        if self.silent:
            return
        body = message.body
        match message.msg_type:
            case "hello":
                time.sleep(self.hello_delay)
                self._send(client, reply(message, hello_reply(engine_id=self.engine_id)))
            case "ping":
                self._send(client, reply(message, m.Pong(engine_id=self.engine_id)))
            case "open_session" if self.busy_answers > 0:
                self.busy_answers -= 1
                error = m.Error("busy", "all session slots are taken", details={"retry_after": self.retry_after})
                self._send(client, reply(message, error))
            case "open_session":
                self._send(client, reply(message, m.OpenSessionReply(SESSION, FRAME_WINDOW, 60.0)))
            case "keyframe" if message.header.session != SESSION:
                error = m.Error("unknown_session", f"no session {message.header.session!r}")
                self._send(client, reply(message, error))
            case "keyframe":
                self._send(client, reply(message, m.KeyframeReply(body.frame, [1])))
            case "propagate":
                frames = list(range(body.first, body.last + 1))
                self._stream = Stream(client, message, frames)
                self._send(client, reply(message, m.PropagateReply(frames=len(frames))))
            case "frame" if self._stream is not None:
                self._stream.pixels[body.index] = np.array(body.pixels)
            case "ack" if self._stream is not None:
                self._stream.acked = body.received
            case "cancel":
                was_running = self._stream is not None and self._stream.sent < len(self._stream.frames)
                if was_running:
                    self._stream.cancelled = True
                self._send(client, reply(message, m.CancelReply(cancelled=was_running)))
            case "close_session":
                self._send(client, reply(message, m.CloseSessionReply()))

    def _advance(self, stream: Stream) -> bool:
        """Do one step of the stream: ask for frames, send a result, or finish. False: vanish now."""
        request = stream.request
        if stream.cancelled or stream.sent == len(stream.frames):
            status = "cancelled" if stream.cancelled else "done"
            self._send(stream.client, reply(request, m.Summary(status=status, frames=stream.sent, elapsed_s=0.1)))
            self._stream = None
            return True
        self._request_frames(stream)
        index = stream.frames[stream.sent]
        if stream.sent - stream.acked >= request.body.window or index not in stream.pixels:
            return True
        time.sleep(self.seconds_per_frame)
        self._send(stream.client, reply(request, result(index, stream.sent, stream.pixels.pop(index))))
        stream.sent += 1
        self.max_unacked = max(self.max_unacked, stream.sent - stream.acked)
        return self.vanish_after is None or stream.sent < self.vanish_after

    def _request_frames(self, stream: Stream) -> None:
        waiting = stream.requested - set(stream.frames[: stream.sent])
        wanted = [i for i in stream.frames[stream.sent :] if i not in stream.requested]
        wanted = wanted[: FRAME_WINDOW - len(waiting)]
        if wanted:
            stream.requested.update(wanted)
            self._send(stream.client, reply(stream.request, m.FrameRequest(indices=wanted)))


def hello_reply(protocol_version: str = PROTOCOL_VERSION, engine_id: str = "") -> m.HelloReply:
    return m.HelloReply(
        engine_version="0.0-test",
        protocol_version=protocol_version,
        model=m.ModelInfo(name="scripted", checkpoint="none"),
        device="cpu",
        capabilities=m.Capabilities(
            max_objects=255,
            max_frame_width=8192,
            max_frame_height=8192,
            max_message_bytes=DEFAULT_LIMITS.max_message_bytes,
            max_sessions=4,
            frame_window=FRAME_WINDOW,
            frame_dtypes=["uint8"],
            matte_dtypes=["uint8", "uint16"],
            readers=["global"],
            frame_sources=["stream"],
            contours=False,
        ),
        engine_id=engine_id,
    )


def result(index: int, sequence: int, pixels: np.ndarray) -> m.Result:
    matte = np.where(pixels[None, :, :, 0] > 127, 65535, 0).astype(np.uint16)
    area = int((matte > 32767).sum())
    return m.Result(
        frame=index,
        objects=[m.ObjectResult(id=1, confidence=0.9, lost=area == 0, area=area)],
        mattes=matte,
        sequence=sequence,
    )


def frame_pixels(index: int, height: int = 24, width: int = 32) -> np.ndarray:
    """A deterministic test frame: the left `index + 1` columns are bright."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : index + 1] = 255
    return pixels


def open_session_request(frame_count: int = 6) -> m.OpenSession:
    return m.OpenSession(
        frame_count=frame_count,
        width=32,
        height=24,
        objects=[m.ObjectSpec(1, "actor")],
        source=m.FrameSource(kind="stream"),
        name="test shot",
    )
