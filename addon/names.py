"""Names the add-on derives ("hero" -> "hero (propagated)") made to fit what Blender holds, so they are found again.

Blender cuts a name that is too long: a Mask layer at 63 bytes of UTF-8, a datablock (the result Mask) at 63 bytes
before 5.0 and 255 from 5.0. A cut derived name would not be the one looked up next time, so every run would add
another layer or Mask. A name that does not fit keeps its suffix (which is how results are told from objects)
and as much of its base as fits, plus a short hash of the whole base, so two long names cut alike stay apart.
"""

from __future__ import annotations

import hashlib

import bpy

LAYER_NAME_BYTES = 63  # MaskLayer.name: char[64]


def datablock_name_bytes() -> int:
    """The longest datablock name of this Blender, in bytes."""
    return 255 if bpy.app.version >= (5, 0, 0) else 63


def fitted(base: str, suffix: str, limit: int) -> str:
    """`base + suffix`, or, when that exceeds `limit` bytes, `base` cut on a character boundary + "~" + 6 hex
    digits of its hash + `suffix`."""
    name = base + suffix
    if len(name.encode()) <= limit:
        return name
    tag = "~" + hashlib.sha256(base.encode()).hexdigest()[:6]
    room = limit - len((tag + suffix).encode())
    return base.encode()[: max(room, 0)].decode("utf-8", "ignore") + tag + suffix
