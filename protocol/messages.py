"""The message catalogue: every message of the protocol, as the frozen dataclass of its body.

`docs/protocol.md` is the specification; this module is its executable form and the two are tested to
agree. Each body class is registered under its `msg_type` with `@message`, which also records who sends it
and, for requests, the reply that answers it. Field types and `Annotated` bounds are the validation rules
(see `protocol.schema`); a `__post_init__` holds the few rules that tie fields together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import numpy as np

from protocol.limits import DEFAULT_LIMITS
from protocol.schema import ArraySpec, Length, Range

# --- field types ----------------------------------------------------------------------------------------

Id = Annotated[str, Length(1, 64)]
OptionalId = Annotated[str, Length(0, 64)]
Name = Annotated[str, Length(1, 64)]
Text = Annotated[str, Length(0, 1024)]
Colorspace = Literal["srgb", "linear"]  # of a streamed frame: display pixels, or scene-linear ones
# An error's text: as long as the longest string a request may carry, so it can quote any of them whole.
ERROR_MESSAGE_BYTES = DEFAULT_LIMITS.max_string_bytes
Path = Annotated[str, Length(1, DEFAULT_LIMITS.max_string_bytes)]
ObjectId = Annotated[int, Range(1, 255)]
FrameIndex = Annotated[int, Range(0, DEFAULT_LIMITS.max_frames - 1)]
Count = Annotated[int, Range(0, 2**62)]
Fraction = Annotated[float, Range(0.0, 1.0)]
Seconds = Annotated[float, Range(0.0, 1e9)]
Milliseconds = Annotated[float, Range(0.0, 1e12)]
Pixels = Annotated[int, Range(1, max(DEFAULT_LIMITS.max_frame_width, DEFAULT_LIMITS.max_frame_height))]
Direction = Literal["forward", "backward", "both"]
Reader = Literal["global", "kernel", "spatial"]

FRAME = ArraySpec(("uint8", "uint16", "float16", "float32"), ("height", "width", "channels"))
LABEL_MAP = ArraySpec(("uint8",), ("height", "width"))
MATTES = ArraySpec(("uint8", "uint16"), ("objects", "height", "width"))
KEY_MATTES = ArraySpec(("uint8", "uint16", "float32"), ("objects", "height", "width"))
UNCERTAINTY = ArraySpec(("uint8", "float16"), ("height", "width"))
POLYGON_POINTS = ArraySpec(("float32",), ("points", 2))

# --- registry -------------------------------------------------------------------------------------------

Sender = Literal["client", "engine"]


@dataclass(frozen=True)
class MessageKind:
    """What the catalogue knows about one message type."""

    msg_type: str
    body: type
    sender: Sender
    reply: str | None  # for a request: the msg_type of its reply


CATALOGUE: dict[str, MessageKind] = {}
BodyType = TypeVar("BodyType", bound=type)


def message(msg_type: str, sender: Sender, reply: str | None = None) -> Callable[[BodyType], BodyType]:
    """Register a body dataclass as the message `msg_type`."""

    def register(cls: BodyType) -> BodyType:
        cls.msg_type = msg_type  # type: ignore[attr-defined]  # the one attribute every body class gets here
        CATALOGUE[msg_type] = MessageKind(msg_type, cls, sender, reply)
        return cls

    return register


# --- nested records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    name: Text  # model configuration, e.g. "afb-urr-r50"
    checkpoint: Text  # file name of the loaded weights (never the full path of the engine's disk)
    parameters: Count = 0


@dataclass(frozen=True)
class Capabilities:
    max_objects: ObjectId
    max_frame_width: Pixels
    max_frame_height: Pixels
    max_message_bytes: Count
    max_sessions: Annotated[int, Range(1, 100_000)]
    frame_window: Annotated[int, Range(1, 256)]  # streamed frames a session may have requested at once
    frame_dtypes: Annotated[list[str], Length(0, 16)]
    matte_dtypes: Annotated[list[str], Length(0, 16)]
    readers: Annotated[list[str], Length(0, 16)]
    frame_sources: Annotated[list[str], Length(0, 16)]
    contours: bool


@dataclass(frozen=True)
class ObjectSpec:
    id: ObjectId
    name: Name


@dataclass(frozen=True)
class View:
    """How scene-linear pixels become what the artist sees: Blender's Color Management names, applied by the
    engine with the OpenColorIO config its operator gave it. Display-referred (byte) pixels are used as they are."""

    view: Name = "Standard"
    look: Name = "None"
    display: Name = "sRGB"
    exposure: Annotated[float, Range(-32.0, 32.0)] = 0.0  # stops, a scene-linear gain of 2**exposure
    gamma: Annotated[float, Range(0.01, 5.0)] = 1.0  # a power 1/gamma on display values


@dataclass(frozen=True)
class FrameSource:
    """Where the engine gets pixels: streamed by the client, or files on the engine's own disk."""

    kind: Literal["stream", "files"]
    # For "files": an image folder, a printf ("%04d") or hash ("####") pattern, or a movie file.
    path: Annotated[str, Length(0, DEFAULT_LIMITS.max_string_bytes)] = ""
    first_number: Annotated[int, Range(0, 10**9)] = 0  # the file number of frame index 0 in a pattern
    view: View = field(default_factory=View)
    # For "files": the layer of multi-layer OpenEXR files to read; "" = the image, else the Combined pass.
    exr_layer: Annotated[str, Length(0, 256)] = ""

    def __post_init__(self) -> None:
        if (self.kind == "files") != bool(self.path):
            raise ValueError("path is required for files and must be empty for a stream")
        if self.kind == "stream" and self.exr_layer:
            raise ValueError("exr_layer applies to files: a client that streams reads its own layers")


@dataclass(frozen=True)
class PropagateOptions:
    reader: Reader = "global"
    kernel_sigma: Annotated[float, Range(0.1, 100.0)] = 7.0  # in feature cells, for the kernel reader
    # Shorter side of the internal resolution; 0 = native; None = the network's own (the scale it was trained at).
    max_size: Annotated[int | None, Range(0, 8192)] = None
    # Memorise every N-th frame of a pass; None = the network's own (1, every frame, for the published networks).
    memory_every: Annotated[int | None, Range(1, 1000)] = None
    budget: Annotated[int, Range(1, 10_000_000)] = 300_000  # feature-bank entries, split across objects
    update_rate: Annotated[float, Range(0.0, 1.0)] = 0.1
    merge_threshold: Annotated[float, Range(-1.0, 1.0)] = 0.95
    protect_keyframes: bool = True
    # Steps of fine-tuning a copy of the network on the session's keyframes before propagating; 0: none.
    adapt: Annotated[int, Range(0, 1000)] = 0


@dataclass(frozen=True)
class Outputs:
    matte_dtype: Literal["uint8", "uint16"] = "uint16"
    labels: bool = True
    uncertainty: bool = False
    contours: bool = False
    contour_tolerance: Annotated[float, Range(0.0, 100.0)] = 1.0  # polygon simplification, plate pixels


@dataclass(frozen=True)
class ObjectResult:
    id: ObjectId
    confidence: Fraction
    lost: bool
    area: Count  # matte pixels above one half, at plate resolution


@dataclass(frozen=True)
class Contours:
    """One object's outlines: polygon i is `points[starts[i]:starts[i+1]]` (the last runs to the end)."""

    id: ObjectId
    points: Annotated[np.ndarray, POLYGON_POINTS]  # (x, y) in plate pixels, origin top-left
    starts: Annotated[list[Count], Length(0, DEFAULT_LIMITS.max_list_items)]
    holes: Annotated[list[bool], Length(0, DEFAULT_LIMITS.max_list_items)]  # per polygon: is it a hole
    # The Douglas-Peucker tolerance the polygons were simplified at, in plate pixels: the one asked for, or larger
    # where the outline would not fit the item limit; None from engines before 1.3.
    tolerance: Annotated[float | None, Range(0.0, 1e6)] = None

    def __post_init__(self) -> None:
        count = len(self.points)
        if len(self.holes) != len(self.starts):
            raise ValueError("starts and holes must have one entry per polygon")
        if self.starts and self.starts[0] != 0:
            raise ValueError("the first polygon must start at point 0")
        if any(b <= a for a, b in zip(self.starts, self.starts[1:], strict=False)) or any(
            s >= count for s in self.starts
        ):
            raise ValueError("starts must increase and lie inside points")


@dataclass(frozen=True)
class Timing:
    queued_ms: Milliseconds = 0.0  # waiting for the device behind other sessions
    compute_ms: Milliseconds = 0.0


@dataclass(frozen=True)
class ObjectSummary:
    id: ObjectId
    mean_confidence: Fraction
    min_confidence: Fraction
    lost_frames: Count


@dataclass(frozen=True)
class SessionStatus:
    state: Literal["idle", "propagating"]
    keyframes: Annotated[list[FrameIndex], Length(0, DEFAULT_LIMITS.max_list_items)]
    frames_done: Count


# --- handshake and liveness -----------------------------------------------------------------------------


@message("hello", "client", reply="hello_reply")
@dataclass(frozen=True)
class Hello:
    client: Name  # e.g. "blender-addon"
    client_version: Text = ""


@message("hello_reply", "engine")
@dataclass(frozen=True)
class HelloReply:
    engine_version: Text
    protocol_version: Text
    model: ModelInfo
    device: Text
    capabilities: Capabilities
    heartbeat_interval: Annotated[float, Range(0.05, 3600.0)] = 1.0
    engine_id: OptionalId = ""  # this engine process, new at every start; "" from engines before 1.3


@message("ping", "client", reply="pong")
@dataclass(frozen=True)
class Ping:
    pass


@message("pong", "engine")
@dataclass(frozen=True)
class Pong:
    engine_id: OptionalId = ""  # as in hello_reply: a different one means the engine restarted


@message("status", "client", reply="status_reply")
@dataclass(frozen=True)
class Status:
    pass


@message("status_reply", "engine")
@dataclass(frozen=True)
class StatusReply:
    sessions: Count
    max_sessions: Count
    queued_frames: Count
    device: Text
    uptime_s: Seconds
    device_memory_used: Count = 0
    device_memory_total: Count = 0
    session: SessionStatus | None = None  # when the request names a session


# --- sessions -------------------------------------------------------------------------------------------


@message("open_session", "client", reply="open_session_reply")
@dataclass(frozen=True)
class OpenSession:
    frame_count: Annotated[int, Range(1, DEFAULT_LIMITS.max_frames)]
    width: Pixels
    height: Pixels
    objects: Annotated[list[ObjectSpec], Length(1, 255)]
    source: FrameSource
    name: Text = ""  # the shot's name, for the engine's logs

    def __post_init__(self) -> None:
        ids = [obj.id for obj in self.objects]
        if len(set(ids)) != len(ids):
            raise ValueError("object ids must be unique")


@message("open_session_reply", "engine")
@dataclass(frozen=True)
class OpenSessionReply:
    session: Id
    frame_window: Annotated[int, Range(1, 256)]
    idle_timeout_s: Seconds


@message("keyframe", "client", reply="keyframe_reply")
@dataclass(frozen=True)
class Keyframe:
    """A mask the artist drew or corrected: a label map of object ids, or one matte per object."""

    frame: FrameIndex
    labels: Annotated[np.ndarray, LABEL_MAP] | None = None
    mattes: Annotated[np.ndarray, KEY_MATTES] | None = None
    object_ids: Annotated[list[ObjectId], Length(0, 255)] = field(default_factory=list)  # one per matte

    def __post_init__(self) -> None:
        if (self.labels is None) == (self.mattes is None):
            raise ValueError("exactly one of labels and mattes must be given")
        if self.mattes is not None and len(self.object_ids) != self.mattes.shape[0]:
            raise ValueError("object_ids must name the object of each matte")
        if len(set(self.object_ids)) != len(self.object_ids):
            raise ValueError("object_ids must be unique")


@message("keyframe_reply", "engine")
@dataclass(frozen=True)
class KeyframeReply:
    frame: FrameIndex
    objects: Annotated[list[ObjectId], Length(0, 255)]  # the objects present in the mask
    invalidated: Annotated[list[FrameIndex], Length(0, 2)] = field(default_factory=list)  # [first, last]

    def __post_init__(self) -> None:
        if len(self.invalidated) == 1 or self.invalidated[1:] < self.invalidated[:1]:
            raise ValueError("invalidated must be empty or [first, last] with first <= last")


@message("close_session", "client", reply="close_session_reply")
@dataclass(frozen=True)
class CloseSession:
    pass


@message("close_session_reply", "engine")
@dataclass(frozen=True)
class CloseSessionReply:
    pass


# --- propagation ----------------------------------------------------------------------------------------


@message("propagate", "client", reply="propagate_reply")
@dataclass(frozen=True)
class Propagate:
    first: FrameIndex
    last: FrameIndex
    direction: Direction = "both"
    options: PropagateOptions = field(default_factory=PropagateOptions)
    outputs: Outputs = field(default_factory=Outputs)
    window: Annotated[int, Range(1, 256)] = 4  # results the engine may send ahead of the client's acks

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("last must not be before first")


@message("propagate_reply", "engine")
@dataclass(frozen=True)
class PropagateReply:
    frames: Count  # results that will follow, one per frame, unless cancelled or failed


@message("frame_request", "engine")
@dataclass(frozen=True)
class FrameRequest:
    indices: Annotated[list[FrameIndex], Length(1, 256)]


@message("adapting", "engine")
@dataclass(frozen=True)
class Adapting:
    """A step of learning the session's keyframes, sent before the results of a propagate that asks to adapt."""

    step: Annotated[int, Range(1, 1000)]
    steps: Annotated[int, Range(1, 1000)]
    loss: Annotated[float, Range(0.0, 1e6)]  # the step's training loss
    seconds_left: Annotated[float, Range(0.0, 1e6)]  # at the pace so far


@message("frame", "client")
@dataclass(frozen=True)
class Frame:
    index: FrameIndex
    pixels: Annotated[np.ndarray, FRAME]
    colorspace: Colorspace = "srgb"


@message("result", "engine")
@dataclass(frozen=True)
class Result:
    frame: FrameIndex
    objects: Annotated[list[ObjectResult], Length(0, 255)]
    mattes: Annotated[np.ndarray, MATTES]  # one per entry of `objects`, in that order
    sequence: Count  # 0 for the first result of this propagate, then 1, 2, ...
    labels: Annotated[np.ndarray, LABEL_MAP] | None = None
    uncertainty: Annotated[np.ndarray, UNCERTAINTY] | None = None
    contours: Annotated[list[Contours], Length(0, 255)] | None = None
    source: Literal["forward", "backward", "keyframe"] = "forward"
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        if self.mattes.shape[0] != len(self.objects):
            raise ValueError("mattes must have one channel per entry of objects")
        for name in ("labels", "uncertainty"):
            plane = getattr(self, name)
            if plane is not None and plane.shape != self.mattes.shape[1:]:
                raise ValueError(f"{name} must have the mattes' size {self.mattes.shape[1:]}")


@message("ack", "client")
@dataclass(frozen=True)
class Ack:
    received: Count  # results of this propagate (header.parent) the client has taken so far


@message("summary", "engine")
@dataclass(frozen=True)
class Summary:
    status: Literal["done", "cancelled", "failed"]
    frames: Count
    elapsed_s: Seconds
    objects: Annotated[list[ObjectSummary], Length(0, 255)] = field(default_factory=list)
    error: Error | None = None


@message("cancel", "client", reply="cancel_reply")
@dataclass(frozen=True)
class Cancel:
    target: OptionalId = ""  # msg_id of the propagate; empty: whatever runs in header.session


@message("cancel_reply", "engine")
@dataclass(frozen=True)
class CancelReply:
    cancelled: bool  # False when nothing was running


@message("error", "engine")
@dataclass(frozen=True)
class Error:
    code: Annotated[str, Length(1, 64)]
    message: Annotated[str, Length(0, ERROR_MESSAGE_BYTES)]
    retryable: bool = False
    details: Annotated[dict[str, Any], Length(0, 64)] = field(default_factory=dict)


REQUESTS: frozenset[str] = frozenset(kind.msg_type for kind in CATALOGUE.values() if kind.sender == "client")
Body = Any  # one of the classes above
