"""A frame's name and confidence as text on a picture, in red where the frame needs review: what a supervisor
reads first on a contact sheet or a paused movie, and the number to type into Blender to get there.

OpenCV's anti-aliased Hershey font: already a dependency, crisp at small sizes, and no font files to find.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
SCALE = 0.45  # about 10 px high capitals: readable under a 320 px tile
PADDING = 5  # pixels around the text, at SCALE
TEXT = (230, 230, 230)
LOW = (255, 110, 90)  # red enough to stand out, light enough to read on the dark strip
BACKING = (24, 24, 24)
READABLE_WIDTH = 560  # a wider picture (a movie) gets larger text, as it is watched from further away


def strip_height(zoom: float = 1.0) -> int:
    """The height of a caption strip: the text with its descenders and padding."""
    return round(cv2.getTextSize("0", FONT, SCALE * zoom, 1)[0][1] + (2 * PADDING + 4) * zoom)


HEIGHT = strip_height()  # of the strips under a contact sheet's tiles


def caption(name: str, confidence: float, keyframe: bool) -> str:
    """E.g. "00042  conf 0.31"; a keyframe says so, since its confidence is the mask drawn, not a measure.

    The confidence is cut, not rounded, to two decimals: 0.499 reads 0.49, never the 0.50 of a frame that passes.
    """
    shown = math.floor(confidence * 100) / 100
    return f"{name}  conf {shown:.2f}" + ("  key" if keyframe else "")


def colour(confidence: float, threshold: float) -> tuple[int, int, int]:
    return LOW if confidence < threshold else TEXT


def write(
    image: np.ndarray, text: str, rgb: tuple[int, int, int], left: int, top: int, width: int, zoom: float = 1.0
) -> None:
    """Draw `text` into `image` in the `width` pixels from (`left`, `top`) on, one caption strip high; shrunk to
    fit a long frame name rather than cut."""
    (text_width, text_height), _ = cv2.getTextSize(text, FONT, SCALE * zoom, 1)
    padding = round(PADDING * zoom)
    scale = SCALE * zoom * min(1.0, (width - 2 * padding) / text_width)
    baseline = top + (strip_height(zoom) + text_height) // 2 - 1
    cv2.putText(image, text, (left + padding, baseline), FONT, scale, rgb, max(1, round(zoom)), cv2.LINE_AA)


def write_on_backing(image: np.ndarray, text: str, rgb: tuple[int, int, int]) -> None:
    """Draw `text` in the top-left corner of a picture on a dark box, readable over any plate."""
    zoom = max(1.0, image.shape[1] / READABLE_WIDTH)
    (text_width, _), _ = cv2.getTextSize(text, FONT, SCALE * zoom, 1)
    width = min(image.shape[1], text_width + 2 * round(PADDING * zoom))
    cv2.rectangle(image, (0, 0), (width - 1, strip_height(zoom) - 1), BACKING, cv2.FILLED)
    write(image, text, rgb, 0, 0, width, zoom)
