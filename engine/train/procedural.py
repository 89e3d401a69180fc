"""Synthetic clips of textured shapes moving over a moving textured background, for training without a dataset.

They exercise everything the network must learn from video (objects that move, turn, grow, leave the frame
and hide one another) with exact labels and no files, which makes them the data of smoke tests and of a first
training stage on a machine without DAVIS. Every shape and the background carry their own texture, so an
object can only be told from the background and from other objects by its appearance, as in real footage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.learning.clip import Clip, check_clip_arguments

SUBPIXEL_BITS = 4  # fillPoly's fixed-point vertices: smooth motion instead of whole-pixel jumps
PLACEMENT_TRIES = 10


class ProceduralClips:
    """Clips of 1 to `max_objects` shapes, `frames` frames of `size` (height, width); see the module doc."""

    def __init__(self, frames: int = 6, size: tuple[int, int] = (96, 96), max_objects: int = 3) -> None:
        # Below 32 pixels the smallest shapes could fall between pixel centres and vanish.
        check_clip_arguments(frames, size, max_objects, least_side=32)
        self.frames, self.size, self.max_objects = frames, (int(size[0]), int(size[1])), max_objects

    def sample(self, rng: np.random.Generator) -> Clip:
        """One clip; frame 0 shows every object of the clip, at least in part."""
        height, width = self.size
        count = int(rng.integers(1, self.max_objects + 1))
        sprites = _place([_Sprite.random(rng, self.size) for _ in range(count)], self.size, rng)
        background = _Background.random(rng, self.size, self.frames)
        exposure = rng.uniform(0.75, 1.25) * rng.uniform(0.95, 1.05, self.frames)
        softness = rng.uniform(0.3, 1.0)
        frames = np.empty((self.frames, height, width, 3), np.uint8)
        labels = np.zeros((self.frames, height, width), np.uint8)
        for time in range(self.frames):
            image = background.frame(time)
            for object_id, sprite in sprites:  # bottom to top: each layer covers those below it
                sprite.draw(time, image, labels[time], object_id)
            image = cv2.GaussianBlur(image * exposure[time], (0, 0), softness)
            frames[time] = np.clip(image, 0, 255).round()
        return Clip(frames, labels)


@dataclass(frozen=True)
class _Sprite:
    """A textured outline and its motion: where it is at time t is a similarity transform of time."""

    outline: np.ndarray  # (N, 2) x, y vertices about the shape's own centre
    texture: np.ndarray  # (P, P, 3) float32 RGB, centred on the shape's centre, covering the outline at any angle
    centre: np.ndarray  # (2,) x, y in the frame at time 0
    velocity: np.ndarray  # (2,) pixels per frame
    angle: float
    spin: float  # radians per frame
    growth: float  # log scale per frame

    @staticmethod
    def random(rng: np.random.Generator, size: tuple[int, int]) -> _Sprite:
        short = min(size)
        radius = short * rng.uniform(0.1, 0.3)
        half = math.ceil(radius) + 2
        return _Sprite(
            outline=_outline(rng, radius),
            texture=_texture(rng, 2 * half + 1, 2 * half + 1, ("noise", "stripes", "checker")),
            centre=_random_centre(rng, size),
            velocity=rng.uniform(-0.08, 0.08, 2) * short,
            angle=rng.uniform(0, 2 * math.pi),
            spin=rng.uniform(-0.15, 0.15),
            growth=rng.uniform(-0.05, 0.05),
        )

    def pose(self, time: int) -> tuple[np.ndarray, np.ndarray]:
        """The linear part (2x2) and the centre (2,) that map shape coordinates to frame coordinates."""
        angle, scale = self.angle + self.spin * time, math.exp(self.growth * time)
        linear = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        return linear, self.centre + self.velocity * time

    def draw(self, time: int, image: np.ndarray, labels: np.ndarray, object_id: int) -> None:
        """Paint the shape at `time` over `image` (float32 RGB) and `labels`, only inside its bounding box:
        warping the texture over the whole frame would cost most of a clip's time."""
        box, inside = self.footprint(time, labels.shape)
        if inside.any():
            linear, centre = self.pose(time)
            middle = np.full(2, (len(self.texture) - 1) / 2)
            shift = centre - (box[1].start, box[0].start) - linear @ middle
            colours = cv2.warpAffine(
                self.texture, np.hstack([linear, shift[:, None]]), inside.shape[::-1], borderMode=cv2.BORDER_REFLECT
            )
            image[box][inside] = colours[inside]
            labels[box][inside] = object_id

    def mask(self, time: int, size: tuple[int, int]) -> np.ndarray:
        """The shape's pixels at `time` in a frame of `size`."""
        box, inside = self.footprint(time, size)
        canvas = np.zeros(size, bool)
        canvas[box] = inside
        return canvas

    def footprint(self, time: int, size: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
        """The shape's bounding box at `time`, clipped to the frame (maybe empty), and its pixels in the box."""
        linear, centre = self.pose(time)
        points = self.outline @ linear.T + centre
        low = np.clip(np.floor(points.min(axis=0)), 0, size[::-1]).astype(int)
        high = np.clip(np.ceil(points.max(axis=0)) + 1, low, size[::-1]).astype(int)
        box = (slice(low[1], high[1]), slice(low[0], high[0]))
        canvas = np.zeros((high[1] - low[1], high[0] - low[0]), np.uint8)
        if canvas.size:
            vertices = np.round((points - low) * (1 << SUBPIXEL_BITS)).astype(np.int32)
            cv2.fillPoly(canvas, [vertices], 1, lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
        return box, canvas.view(bool)


@dataclass(frozen=True)
class _Background:
    """A texture larger than the frame by `margin` on each side, seen through a window that drifts."""

    texture: np.ndarray  # (H + 2 margin, W + 2 margin, 3) float32
    margin: int
    drift: np.ndarray  # (2,) x, y pixels per frame
    size: tuple[int, int]

    @staticmethod
    def random(rng: np.random.Generator, size: tuple[int, int], frames: int) -> _Background:
        drift = rng.uniform(-0.015, 0.015, 2) * min(size)
        margin = math.ceil(np.abs(drift).max() * (frames - 1)) + 1
        texture = _texture(rng, size[0] + 2 * margin, size[1] + 2 * margin, ("noise", "gradient", "stripes"))
        return _Background(texture, margin, drift, size)

    def frame(self, time: int) -> np.ndarray:
        offset = self.margin + self.drift * time
        matrix = np.array([[1, 0, -offset[0]], [0, 1, -offset[1]]])
        return cv2.warpAffine(self.texture, matrix, self.size[::-1], flags=cv2.INTER_LINEAR)


def _place(sprites: list[_Sprite], size: tuple[int, int], rng: np.random.Generator) -> list[tuple[int, _Sprite]]:
    """The sprites that frame 0 shows, bottom to top, each with its id (1..K in random order).

    Sprites are taken from the top down. One that shows fewer than `least` pixels (a sliver would teach nothing)
    is moved to a new random centre, and dropped after `PLACEMENT_TRIES` moves. The top one needs a single
    pixel, so a clip always has an object: its centre is in the frame and every outline holds a disk of more
    than 0.7 pixel about its centre, which holds a pixel centre.
    """
    least = max(4, round(0.002 * size[0] * size[1]))
    covered = np.zeros(size, bool)
    shown: list[_Sprite] = []
    for sprite in reversed(sprites):  # the list is bottom to top
        for _ in range(PLACEMENT_TRIES):
            inside = sprite.mask(0, size)
            if np.count_nonzero(inside & ~covered) >= (least if shown else 1):
                covered |= inside
                shown.append(sprite)
                break
            sprite = replace(sprite, centre=_random_centre(rng, size))
    ids = rng.permutation(len(shown)) + 1
    return [(int(object_id), sprite) for object_id, sprite in zip(ids, reversed(shown), strict=True)]


def _random_centre(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    return rng.uniform((0, 0), (size[1] - 1, size[0] - 1))


def _outline(rng: np.random.Generator, radius: float) -> np.ndarray:
    """An ellipse, a rectangle or a star-shaped polygon, its farthest point at most `radius` from the centre.

    Each holds a disk about its centre of more than a quarter of `radius` (the polygon's corners are at least
    45 % of `radius` out and at most 101 degrees apart), so no shape is a sliver or misses its own centre.
    """
    kind = rng.integers(3)
    if kind == 2:
        corners = int(rng.integers(5, 11))
        angles = (np.arange(corners) + rng.uniform(-0.2, 0.2, corners)) * (2 * math.pi / corners)
        reach = radius * rng.uniform(0.45, 1.0, corners)
        return np.stack([reach * np.cos(angles), reach * np.sin(angles)], axis=1)
    across = radius * np.array([1.0, rng.uniform(0.35, 1.0)])
    if kind == 1:  # the corners, not the sides, lie on the circle of `radius`
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * across * (radius / math.hypot(*across))
    angles = np.linspace(0, 2 * math.pi, max(12, round(radius)), endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * across


def _texture(rng: np.random.Generator, height: int, width: int, kinds: tuple[str, ...]) -> np.ndarray:
    """(height, width, 3) float32 RGB in [0, 255]: a pattern of `kinds` blended between two random colours.

    Some smooth noise is mixed into every pattern so that no surface is perfectly flat, which would let the
    network match colours alone.
    """
    pattern = _PATTERNS[kinds[int(rng.integers(len(kinds)))]](rng, height, width)
    pattern = 0.75 * pattern + 0.25 * _noise(rng, height, width)
    first = rng.uniform(0, 255, 3)
    second = np.clip(first + rng.normal(0, 70, 3), 0, 255)
    return (first + (second - first) * pattern[:, :, None]).astype(np.float32)


def _along(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates along and across a random direction, (height, width) float32 each."""
    angle = rng.uniform(0, math.pi)
    rows, columns = np.ogrid[:height, :width]
    rows, columns = rows.astype(np.float32), columns.astype(np.float32)
    return columns * math.cos(angle) + rows * math.sin(angle), rows * math.cos(angle) - columns * math.sin(angle)


def _noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    cell = rng.uniform(3, 16)
    coarse = rng.random((math.ceil(height / cell) + 2, math.ceil(width / cell) + 2), np.float32)
    return np.clip(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)


def _stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    along, _ = _along(rng, height, width)
    return 0.5 + 0.5 * np.sin(along * (2 * math.pi / rng.uniform(4, 24)) + rng.uniform(0, 2 * math.pi))


def _checker(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    along, across = _along(rng, height, width)
    period = rng.uniform(4, 16)
    return ((np.floor(along / period) + np.floor(across / period)) % 2).astype(np.float32)


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    along, _ = _along(rng, height, width)
    return (along - along.min()) / max(float(np.ptp(along)), 1.0)


_PATTERNS = {"noise": _noise, "stripes": _stripes, "checker": _checker, "gradient": _gradient}
