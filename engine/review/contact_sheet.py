"""The frames of a shot that most need review on one picture, each with its mattes, name and confidence: a
supervisor scans it in seconds instead of scrubbing the shot.

Tiles run in frame order (left to right, then down), not by confidence: bad frames come in runs (an occlusion,
a fast move), and in frame order a run sits together and the sheet reads like the shot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.review import captions

TILE_WIDTH = 320
COLUMNS = 4
GAP = 6  # pixels between tiles and around the sheet
BACKGROUND = (40, 40, 40)


@dataclass(frozen=True)
class SheetLayout:
    """Where each of `count` tiles of `tile` (width, height) pictures goes, its caption strip under it."""

    count: int
    tile: tuple[int, int]

    @property
    def columns(self) -> int:
        return min(COLUMNS, self.count)

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.columns)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet."""
        width, height = self.tile
        return GAP + self.columns * (width + GAP), GAP + self.rows * (height + captions.HEIGHT + GAP)

    def origin(self, position: int) -> tuple[int, int]:
        """(left, top) of the picture of tile `position`; its caption strip starts right below it."""
        row, column = divmod(position, self.columns)
        width, height = self.tile
        return GAP + column * (width + GAP), GAP + row * (height + captions.HEIGHT + GAP)


def lowest_confidence(confidence: Mapping[int, float], count: int) -> list[int]:
    """The indices of the `count` least confident frames (the earlier frame on a tie), in frame order."""
    return sorted(sorted(confidence, key=lambda index: (confidence[index], index))[:count])


def compose(pictures: Sequence[np.ndarray], labels: Sequence[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    """The sheet (HxWx3 uint8 RGB) of `pictures`, all one size, each captioned by its (text, colour) label."""
    layout = SheetLayout(len(pictures), (pictures[0].shape[1], pictures[0].shape[0]))
    sheet = np.empty((layout.size[1], layout.size[0], 3), np.uint8)
    sheet[:] = BACKGROUND
    width, height = layout.tile
    for position, (picture, (text, rgb)) in enumerate(zip(pictures, labels, strict=True)):
        left, top = layout.origin(position)
        sheet[top : top + height, left : left + width] = picture
        sheet[top + height : top + height + captions.HEIGHT, left : left + width] = captions.BACKING
        captions.write(sheet, text, rgb, left, top + height, width)
    return sheet
