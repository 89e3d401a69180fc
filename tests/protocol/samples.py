"""Realistic sample bodies of every message type, and helpers that turn messages into raw frames.

`SAMPLES` maps each msg_type of the catalogue to a builder returning that type's sample bodies: the first
sets every optional field, the others leave optional fields unset or pick the other branch of a choice
(a keyframe drawn as labels or as mattes). Arrays are small and filled from a seeded generator, so every
run builds the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, TAG
from protocol.wire import Message, encode, make

HEIGHT, WIDTH = 18, 32
SESSION = "5f0c1d2e3a4b5c6d"
PARENT = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def _rng(salt: int) -> np.random.Generator:
    return np.random.default_rng(20240611 + salt)


def _labels(salt: int, objects: int = 2) -> np.ndarray:
    return _rng(salt).integers(0, objects + 1, size=(HEIGHT, WIDTH), dtype=np.uint8)


def _mattes(salt: int, objects: int, dtype: type) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return _rng(salt).random((objects, HEIGHT, WIDTH), dtype=np.float32).astype(dtype)
    return _rng(salt).integers(0, np.iinfo(dtype).max, size=(objects, HEIGHT, WIDTH), dtype=dtype, endpoint=True)


def _capabilities() -> m.Capabilities:
    return m.Capabilities(
        max_objects=255,
        max_frame_width=8192,
        max_frame_height=8192,
        max_message_bytes=1024 * 1024 * 1024,
        max_sessions=4,
        frame_window=8,
        frame_dtypes=["uint8", "uint16", "float16", "float32"],
        matte_dtypes=["uint8", "uint16"],
        readers=["global", "kernel", "spatial"],
        frame_sources=["stream", "files"],
        contours=True,
    )


def _contours(object_id: int) -> m.Contours:
    square = [(4.0, 4.0), (12.0, 4.0), (12.0, 12.0), (4.0, 12.0)]
    hole = [(6.5, 6.5), (9.5, 6.5), (8.0, 9.25)]
    points = np.array(square + hole, dtype=np.float32)
    return m.Contours(id=object_id, points=points, starts=[0, len(square)], holes=[False, True])


def hello() -> list[Any]:
    return [m.Hello(client="blender-addon", client_version="5.0.1"), m.Hello(client="farm-worker")]


def hello_reply() -> list[Any]:
    return [
        m.HelloReply(
            engine_version="0.1.0",
            protocol_version=PROTOCOL_VERSION,
            model=m.ModelInfo(name="afb-urr-r50", checkpoint="afb_urr_youtube.pth", parameters=37_512_448),
            device="NVIDIA H200 (cuda:0)",
            capabilities=_capabilities(),
            heartbeat_interval=0.5,
        )
    ]


def ping() -> list[Any]:
    return [m.Ping()]


def pong() -> list[Any]:
    return [m.Pong()]


def status() -> list[Any]:
    return [m.Status()]


def status_reply() -> list[Any]:
    return [
        m.StatusReply(
            sessions=2,
            max_sessions=4,
            queued_frames=7,
            device="cuda:0",
            uptime_s=3605.25,
            device_memory_used=12_884_901_888,
            device_memory_total=150_323_855_360,
            session=m.SessionStatus(state="propagating", keyframes=[0, 48, 96], frames_done=57),
        ),
        m.StatusReply(sessions=0, max_sessions=1, queued_frames=0, device="cpu", uptime_s=0.5),
    ]


def open_session() -> list[Any]:
    objects = [m.ObjectSpec(id=1, name="actor"), m.ObjectSpec(id=2, name="car"), m.ObjectSpec(id=255, name="sky")]
    return [
        m.OpenSession(
            frame_count=240,
            width=4096,
            height=2160,
            objects=objects,
            source=m.FrameSource(kind="files", path="/shots/sq010/sh0040/plate/sh0040.%04d.exr", first_number=1001),
            name="sq010_sh0040",
        ),
        m.OpenSession(frame_count=1, width=WIDTH, height=HEIGHT, objects=objects[:1], source=m.FrameSource("stream")),
    ]


def open_session_reply() -> list[Any]:
    return [m.OpenSessionReply(session=SESSION, frame_window=8, idle_timeout_s=600.0)]


def keyframe() -> list[Any]:
    return [
        m.Keyframe(frame=48, labels=_labels(1)),
        m.Keyframe(frame=96, mattes=_mattes(2, 2, np.uint16), object_ids=[1, 2]),
        m.Keyframe(frame=0, mattes=_mattes(3, 1, np.float32), object_ids=[7]),
        m.Keyframe(frame=12, mattes=_mattes(4, 3, np.uint8), object_ids=[1, 2, 3]),
    ]


def keyframe_reply() -> list[Any]:
    return [m.KeyframeReply(frame=48, objects=[1, 2], invalidated=[49, 239]), m.KeyframeReply(frame=0, objects=[])]


def close_session() -> list[Any]:
    return [m.CloseSession()]


def close_session_reply() -> list[Any]:
    return [m.CloseSessionReply()]


def propagate() -> list[Any]:
    return [
        m.Propagate(
            first=0,
            last=239,
            direction="forward",
            options=m.PropagateOptions(
                reader="kernel",
                kernel_sigma=5.5,
                max_size=0,
                budget=600_000,
                update_rate=0.25,
                merge_threshold=-0.5,
                protect_keyframes=False,
            ),
            outputs=m.Outputs(
                matte_dtype="uint8", labels=False, uncertainty=True, contours=True, contour_tolerance=0.0
            ),
            window=16,
        ),
        m.Propagate(first=10, last=10),
    ]


def propagate_reply() -> list[Any]:
    return [m.PropagateReply(frames=240)]


def frame_request() -> list[Any]:
    return [m.FrameRequest(indices=[0, 1, 2, 3]), m.FrameRequest(indices=[999_999])]


def adapting() -> list[Any]:
    return [
        m.Adapting(step=1, steps=40, loss=0.1462, seconds_left=18.5),
        m.Adapting(step=40, steps=40, loss=0.0, seconds_left=0.0),
    ]


def frame() -> list[Any]:
    rng = _rng(5)
    return [
        m.Frame(index=17, pixels=rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)),
        m.Frame(
            index=0,
            pixels=rng.random((HEIGHT, WIDTH, 4), dtype=np.float32).astype(np.float16),
            colorspace="linear",
        ),
        m.Frame(index=3, pixels=rng.random((HEIGHT, WIDTH, 3), dtype=np.float32) * 4.0, colorspace="linear"),
        m.Frame(index=999_999, pixels=rng.integers(0, 65536, size=(HEIGHT, WIDTH, 1), dtype=np.uint16)),
    ]


def result() -> list[Any]:
    objects = [
        m.ObjectResult(id=1, confidence=0.93, lost=False, area=1734),
        m.ObjectResult(id=2, confidence=0.0, lost=True, area=0),
    ]
    return [
        m.Result(
            frame=57,
            objects=objects,
            mattes=_mattes(6, 2, np.uint16),
            sequence=57,
            labels=_labels(7),
            uncertainty=_rng(8).random((HEIGHT, WIDTH), dtype=np.float32).astype(np.float16),
            contours=[_contours(1), m.Contours(id=2, points=np.zeros((0, 2), np.float32), starts=[], holes=[])],
            source="backward",
            timing=m.Timing(queued_ms=1.5, compute_ms=41.25),
        ),
        m.Result(frame=3, objects=objects[:1], mattes=_mattes(9, 1, np.uint8), sequence=0),
        m.Result(
            frame=48,
            objects=[],
            mattes=np.zeros((0, HEIGHT, WIDTH), np.uint16),
            sequence=1,
            uncertainty=_rng(10).integers(0, 256, size=(HEIGHT, WIDTH), dtype=np.uint8),
            contours=[],
            source="keyframe",
        ),
    ]


def ack() -> list[Any]:
    return [m.Ack(received=12)]


def summary() -> list[Any]:
    return [
        m.Summary(
            status="failed",
            frames=57,
            elapsed_s=12.5,
            objects=[m.ObjectSummary(id=1, mean_confidence=0.9, min_confidence=0.41, lost_frames=3)],
            error=m.Error(code="out_of_memory", message="CUDA out of memory", retryable=True, details={"frame": 57}),
        ),
        m.Summary(status="done", frames=240, elapsed_s=95.0),
    ]


def cancel() -> list[Any]:
    return [m.Cancel(target=PARENT), m.Cancel()]


def cancel_reply() -> list[Any]:
    return [m.CancelReply(cancelled=True), m.CancelReply(cancelled=False)]


def error() -> list[Any]:
    return [
        m.Error(
            code="busy",
            message="4 sessions are open, the limit is 4",
            retryable=True,
            details={"retry_after": 2.5, "sessions": [SESSION, "x"], "nested": {"ok": None, "raw": b"\x00\xff"}},
        ),
        m.Error(code="internal", message=""),
    ]


SAMPLES: dict[str, Callable[[], list[Any]]] = {
    "hello": hello,
    "hello_reply": hello_reply,
    "ping": ping,
    "pong": pong,
    "status": status,
    "status_reply": status_reply,
    "open_session": open_session,
    "open_session_reply": open_session_reply,
    "keyframe": keyframe,
    "keyframe_reply": keyframe_reply,
    "close_session": close_session,
    "close_session_reply": close_session_reply,
    "propagate": propagate,
    "propagate_reply": propagate_reply,
    "frame_request": frame_request,
    "adapting": adapting,
    "frame": frame,
    "result": result,
    "ack": ack,
    "summary": summary,
    "cancel": cancel,
    "cancel_reply": cancel_reply,
    "error": error,
}


def sample_bodies() -> list[tuple[str, Any]]:
    """Every sample body with a readable id such as "result-0", in catalogue order."""
    return [(f"{msg_type}-{i}", body) for msg_type, build in SAMPLES.items() for i, body in enumerate(build())]


def sample(msg_type: str, index: int = 0) -> Any:
    return SAMPLES[msg_type]()[index]


# --- frames ---------------------------------------------------------------------------------------------


def to_bytes(frame: bytes | np.ndarray) -> bytes:
    """One encoded frame as the bytes a socket would deliver."""
    return bytes(memoryview(frame)) if isinstance(frame, np.ndarray) else bytes(frame)


def encoded(body: Any, *, session: str = SESSION, parent: str = PARENT) -> tuple[Message, list[bytes]]:
    """A fresh message around `body`, and its frames as bytes."""
    message = make(body, session=session, parent=parent)
    return message, [to_bytes(frame) for frame in encode(message)]


def header_map(msg_type: str, **changes: Any) -> dict[str, Any]:
    """A valid header as plain msgpack data, with `changes` applied."""
    header = {"msg_id": "0123456789abcdef", "msg_type": msg_type, "version": PROTOCOL_VERSION, "time": 1.7e9}
    header.update(changes)
    return header


def pack(data: Any) -> bytes:
    return msgpack.packb(data, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def raw_frames(header: Any, body: Any, buffers: tuple[bytes, ...] | list[bytes] = (), tag: bytes = TAG) -> list[bytes]:
    """Frames built by hand from plain data, to say things `encode` never would."""
    return [tag, pack(header), pack(body), *buffers]
