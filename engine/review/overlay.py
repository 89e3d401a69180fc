"""A plate with each object's matte drawn over it, at the size a picture shows it.

Each object gets a translucent fill as strong as its matte, so a soft or hesitant edge shows as soft, and a solid
outline of where it wins in the label map, the hard edge a compositor keys from. Both are in the object's
label-map colour (the DAVIS palette of `engine.io.palette`), the colour DAVIS tools and the label PNGs show it in.
Plain numpy and OpenCV: the contact sheet, the thumbnail and the movie share it without the `review` extra.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from engine.io.palette import davis_palette

FILL_OPACITY = 0.45  # of a fully opaque matte: the plate stays readable under the fill
OUTLINE_EVERY = 480  # one more pixel of outline per this many pixels of picture width


def object_colour(object_id: int) -> tuple[int, int, int]:
    """The object's RGB colour: the one its id has in label maps."""
    red, green, blue = davis_palette()[object_id]
    return int(red), int(green), int(blue)


def fit_width(size: tuple[int, int], width: int, even: bool = False) -> tuple[int, int]:
    """(width, height) of a picture `width` wide with the aspect of `size`; `even` rounds both down to even
    numbers, which H.264 in 4:2:0 needs."""
    height = max(1, round(size[1] * width / size[0]))
    if even:
        return max(2, width - width % 2), max(2, height - height % 2)
    return width, height


def draw_overlay(
    plate: np.ndarray, labels: np.ndarray, mattes: Mapping[int, np.ndarray], size: tuple[int, int]
) -> np.ndarray:
    """`plate` (HxWx3 uint8 RGB) scaled to `size` (width, height) with the objects of `labels` (their ids) and
    `mattes` (id -> HxW float in [0, 1], the plate's size) drawn over it."""
    image = _resize(plate, size).astype(np.float32)
    for object_id, matte in sorted(mattes.items()):
        alpha = _resize(matte, size)[..., None] * FILL_OPACITY
        image += alpha * (np.array(object_colour(object_id), np.float32) - image)
    result = np.rint(image).clip(0, 255).astype(np.uint8)
    thickness = 1 + size[0] // OUTLINE_EVERY
    for object_id in sorted(mattes):
        inside = _resize((labels == object_id).astype(np.float32), size) >= 0.5
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(result, contours, -1, object_colour(object_id), thickness, cv2.LINE_AA)
    return result


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging to shrink (no aliasing of fine edges), bilinear to enlarge."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
