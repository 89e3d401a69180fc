"""Clips composited from annotated videos: the objects of some videos moved over the footage of another.

A few dozen annotated videos hold a few dozen objects, each seen against one background and alone. Pasting
them into other videos' footage, each on a trajectory of its own (a smooth random affine motion on top of the
object's own motion in its video), makes clips with several objects that cross, occlude one another and move
over backgrounds they were never seen on; the background video's own subject stays unlabelled, a distractor
the network must learn to ignore. This is the synthetic pre-training of the STM family, made from video
objects rather than still images, so the objects also deform as real ones do.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from engine.io.masks import object_ids
from engine.learning.augment import random_resized_crop, select_objects
from engine.learning.clip import Clip, check_clip_arguments
from engine.train.sources import DatasetError, first_with_object, index_videos, pick_frames, read_pair

MAX_SKIP = 3  # frames of a source video at most this far apart, so that its motion stays smooth
SCALE = (0.25, 0.6)  # an object's longer side, as a fraction of the clip's shorter side, in frame 0
MOTION = 0.04  # largest drift per frame, as a fraction of the clip's size
TURN = 3.0  # largest rotation per frame, degrees
GROWTH = 0.03  # largest change of scale per frame
FEATHER = 1.5  # sigma, in pixels, of the soft edge an object is blended in with


class CompositeClips:
    """Clips of `frames` frames of `size` (height, width) with 1 to `max_objects` objects, every one in frame 0,
    from a DAVIS-format folder of at least two videos."""

    def __init__(self, root: Path, frames: int = 6, size: tuple[int, int] = (384, 384), max_objects: int = 3) -> None:
        check_clip_arguments(frames, size, max_objects)
        self.root, self.frames, self.size, self.max_objects = Path(root), frames, size, max_objects
        self.videos = index_videos(self.root, None, frames)
        if len(self.videos) < 2:
            raise DatasetError(f"{self.root}: compositing needs at least two videos, found {len(self.videos)}")

    def sample(self, rng: np.random.Generator) -> Clip:
        """A composited clip whose frame 0 shows every object."""
        return first_with_object(self._draw, rng, f"composites of {self.root}")

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        count = int(rng.integers(1, self.max_objects + 1))
        chosen = rng.choice(len(self.videos), size=min(count + 1, len(self.videos)), replace=False)
        background, objects = chosen[0], chosen[1:]
        frames = self._background(self.videos[background], rng)
        labels = np.zeros(frames.shape[:3], np.uint8)
        for object_id, video in enumerate(objects, start=1):
            self._paste(self.videos[video], object_id, frames, labels, rng)
        return frames, select_objects(labels, self.max_objects, rng)

    def _background(self, video: list[tuple[Path, Path]], rng: np.random.Generator) -> np.ndarray:
        picks = pick_frames(len(video), self.frames, MAX_SKIP, rng)
        images = np.stack([read_pair(*video[index])[0] for index in picks])
        empty = np.zeros(images.shape[:3], np.uint8)
        cropped, _ = random_resized_crop(images, empty, self.size, rng, (0.5, 1.0), need_foreground=False)
        return cropped

    def _paste(
        self,
        video: list[tuple[Path, Path]],
        object_id: int,
        frames: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        """Blend one object of `video` (one of its ids) into every frame along a random trajectory; it covers
        what is under it."""
        picks = pick_frames(len(video), self.frames, MAX_SKIP, rng)
        pairs = [read_pair(*video[index]) for index in picks]
        ids = object_ids(pairs[0][1])
        if not ids:
            return
        source_id = ids[int(rng.integers(len(ids)))]
        first = pairs[0][1] == source_id
        for t, (matrix, (image, source_labels)) in enumerate(zip(self._trajectory(first, rng), pairs, strict=True)):
            height, width = self.size
            warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
            mask = cv2.warpAffine((source_labels == source_id).astype(np.float32), matrix, (width, height))
            alpha = cv2.GaussianBlur(mask, (0, 0), FEATHER)[..., None]
            frames[t] = np.round(alpha * warped + (1 - alpha) * frames[t]).astype(np.uint8)
            labels[t][mask > 0.5] = object_id

    def _trajectory(self, first_mask: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """One 2x3 matrix per frame from the source frame to the clip: the object's frame-0 box is scaled to a
        random size and placed at a random point, then drifts, turns and grows smoothly."""
        ys, xs = np.nonzero(first_mask)
        centre = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2])
        extent = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        height, width = self.size
        scale = rng.uniform(*SCALE) * min(height, width) / extent
        position = rng.uniform([0.2 * width, 0.2 * height], [0.8 * width, 0.8 * height])
        velocity = rng.uniform(-MOTION, MOTION, 2) * (width, height)
        angle, turn = rng.uniform(-15, 15), rng.uniform(-TURN, TURN)
        growth = rng.uniform(-GROWTH, GROWTH)
        matrices = []
        for t in range(self.frames):
            cos, sin = math.cos(math.radians(angle + turn * t)), math.sin(math.radians(angle + turn * t))
            linear = scale * (1 + growth) ** t * np.array([[cos, -sin], [sin, cos]])
            matrices.append(np.hstack([linear, (position + velocity * t - linear @ centre)[:, None]]))
        return matrices
