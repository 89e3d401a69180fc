"""Size limits, checked before anything is allocated.

Both sides hold a `Limits`. The engine announces its own in `hello_reply` so a client can refuse a shot up
front instead of failing on frame 300; the decoder enforces the receiver's limits on every message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The largest things a peer accepts.

    The default message size fits a result for a 4K DCI plate with 50 objects in 16-bit mattes, or a UHD-2
    (7680x4320) plate with 12; a larger shot needs 8-bit mattes or a larger limit on both sides. The buffer
    count leaves room for a result's mattes, label map, uncertainty and one contour buffer per object.
    """

    max_message_bytes: int = 1024 * MiB  # all frames of one multipart message together
    max_header_bytes: int = 4096
    max_body_bytes: int = 1 * MiB
    max_buffers: int = 512
    max_frame_width: int = 8192
    max_frame_height: int = 8192
    max_objects: int = 255
    max_frames: int = 1_000_000
    max_string_bytes: int = 4096  # a path is the longest string a message carries
    max_list_items: int = 100_000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_LIMITS = Limits()
