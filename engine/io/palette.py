"""The DAVIS / PASCAL VOC colour map: the palette of label maps, so id 1 is the same red in every tool.

DAVIS 2017 masks, YouTube-VOS masks and the reference code's outputs all use this 256-entry palette, in which
each bit of the id is spread over the high bits of R, G and B: 0 black, 1 (128, 0, 0), 2 (0, 128, 0),
3 (128, 128, 0), 4 (0, 0, 128), ... Writing ours with it lets DAVIS tools and viewers show our label maps
exactly like theirs.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def _davis_palette() -> bytes:
    colours = np.zeros((256, 3), np.uint8)
    for index in range(256):
        red = green = blue = 0
        value = index
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        colours[index] = red, green, blue
    return colours.tobytes()


def davis_palette() -> np.ndarray:
    """The 256x3 uint8 RGB palette (a fresh copy, so callers may modify it)."""
    return np.frombuffer(_davis_palette(), np.uint8).reshape(256, 3).copy()
