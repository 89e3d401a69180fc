"""Clips from files: DAVIS-format videos, static images with masks, and a weighted mixture of sources.

Both file sources follow the reference's recipe: frames after the first are deformed (colour jitter, random
affine) so that the network must match appearance under change, one crop window is cut from the whole clip,
and at most `max_objects` of frame 0's objects are kept. Folders are indexed once, when a source is built, so
a broken dataset fails before training starts; frames are read again for every clip, since a few hundred
kilobytes per frame cost less than holding a dataset in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from engine.evaluation.davis import dataset_folder, read_labels
from engine.io import InputError
from engine.learning.clip import Clip, ClipSource, check_clip_arguments
from engine.learning.still_clips import crop_and_select, deform, still_clip

SAMPLE_TRIES = 20
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(InputError, ValueError):
    """A training folder that cannot give clips: missing, empty, or with frames that have no mask.

    An `InputError`, so the command line reports it as a bad argument, and a `ValueError` for callers that
    build sources from arguments of their own.
    """


class DavisVideos:
    """Clips of `frames` frames of `size` (height, width) from a DAVIS-format folder of annotated videos.

    `max_skip=None` picks frames as the reference does, anywhere in the video (but in temporal order, frame 0
    first, which the memory's recurrence at inference expects); `max_skip=k` picks them in order at most k
    frames apart, the curriculum of STM-style training. `resolution` names a subfolder such as `480p` to use
    instead of whatever `engine.evaluation.davis.dataset_folder` finds.

    As in the reference, no window of 80 % of a 16:9 frame's area has an aspect near 1, so on DAVIS 480p frame 0
    is always the central crop (torchvision's fallback); the deformed frames 1.. still move about it.
    """

    def __init__(
        self,
        root: Path,
        frames: int = 6,
        size: tuple[int, int] = (400, 400),
        max_objects: int = 2,
        max_skip: int | None = None,
        resolution: str | None = None,
    ) -> None:
        check_clip_arguments(frames, size, max_objects)
        if max_skip is not None and max_skip < 1:
            raise ValueError(f"max_skip must be at least 1 (consecutive frames), got {max_skip}")
        self.root, self.frames, self.size = Path(root), frames, size
        self.max_objects, self.max_skip = max_objects, max_skip
        self.videos = index_videos(self.root, resolution, frames)

    def sample(self, rng: np.random.Generator) -> Clip:
        """A clip from a random video, with an object in frame 0 (drawn again, up to a bound, when it has none)."""
        return first_with_object(self._draw, rng, f"videos in {self.root}")

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        video = self.videos[int(rng.integers(len(self.videos)))]
        picks = pick_frames(len(video), self.frames, self.max_skip, rng)
        images, labels = zip(*(read_pair(*video[index]) for index in picks), strict=True)
        images, labels = list(images), list(labels)
        for index in range(1, len(images)):
            images[index], labels[index] = deform(images[index], labels[index], rng, 0.02, 15, (0.95, 1.05))
        return crop_and_select(images, labels, self.size, (0.95, 1.05), self.max_objects, rng)


class StaticImages:
    """Clips made from single images (`root/images/*.jpg|png`, masks `root/masks/<stem>.png`, or every annotated
    frame of a DAVIS-format folder), as the reference pre-trains: frame 0 is the image, the others are deformed
    copies, so the network learns to match an object under change before it ever sees video."""

    def __init__(self, root: Path, frames: int = 6, size: tuple[int, int] = (400, 400), max_objects: int = 2) -> None:
        check_clip_arguments(frames, size, max_objects)
        self.root, self.frames, self.size, self.max_objects = Path(root), frames, size, max_objects
        if (self.root / "images").is_dir() or not (self.root / "JPEGImages").is_dir():
            self.pairs = _index_images(self.root)
        else:
            self.pairs = [pair for video in index_videos(self.root, None, 1) for pair in video]

    def sample(self, rng: np.random.Generator) -> Clip:
        """A clip from a random image, with an object in frame 0 (drawn again, up to a bound, when it has none)."""
        return first_with_object(self._draw, rng, f"images in {self.root}")

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, mask = read_pair(*self.pairs[int(rng.integers(len(self.pairs)))])
        return still_clip(image, mask, self.frames, self.size, self.max_objects, rng)


class Mixture:
    """Clips from several sources, each drawn with probability proportional to its weight (for example video
    and static images in one stage, or procedural clips mixed into real ones)."""

    def __init__(self, sources: Sequence[ClipSource], weights: Sequence[float]) -> None:
        if not sources or len(sources) != len(weights):
            raise ValueError(
                f"a mixture needs one weight per source, got {len(sources)} sources, {len(weights)} weights"
            )
        total = float(np.sum(weights))
        if any(weight < 0 for weight in weights) or not total > 0:
            raise ValueError(f"mixture weights must be non-negative with a positive sum, got {list(weights)}")
        self.sources = list(sources)
        self.probabilities = np.asarray(weights, np.float64) / total

    def sample(self, rng: np.random.Generator) -> Clip:
        """A clip from one source, chosen by weight."""
        return self.sources[int(rng.choice(len(self.sources), p=self.probabilities))].sample(rng)


def index_videos(root: Path, resolution: str | None, frames: int) -> list[list[tuple[Path, Path]]]:
    """For each sequence (each folder of frames), its (frame, mask) paths in frame order."""
    try:
        images, annotations = (_kind_folder(root, kind, resolution) for kind in ("JPEGImages", "Annotations"))
    except InputError as error:
        raise DatasetError(str(error), error.path) from error
    names = sorted(p.name for p in images.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DatasetError(f"{images} holds no sequences", images)
    videos = []
    for name in names:
        video = _pairs(sorted((images / name).glob("*.jpg")), annotations / name)
        if len(video) < frames:
            raise DatasetError(
                f"sequence {images / name} has {len(video)} frames, fewer than a clip's {frames}", images / name
            )
        videos.append(video)
    return videos


def _kind_folder(root: Path, kind: str, resolution: str | None) -> Path:
    if resolution is None:
        return dataset_folder(root, kind)
    folder = root / kind / resolution
    if not folder.is_dir():
        raise InputError(f"{root} has no {kind}/{resolution} folder", folder)
    return folder


def _index_images(root: Path) -> list[tuple[Path, Path]]:
    folder = root / "images"
    if not folder.is_dir():
        raise DatasetError(f"{root} is not a folder of static images: it has no images/ folder", root)
    pairs = _pairs(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), root / "masks")
    if not pairs:
        raise DatasetError(f"{folder} holds no .jpg or .png images", folder)
    return pairs


def _pairs(images: list[Path], masks: Path) -> list[tuple[Path, Path]]:
    """Each image with its mask `masks/<stem>.png`, which must exist: an unannotated frame is a broken dataset."""
    pairs = [(image, masks / f"{image.stem}.png") for image in images]
    missing = [image.name for image, mask in pairs if not mask.is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DatasetError(f"no mask in {masks} for {shown}", masks)
    return pairs


def read_pair(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image and its label map, which must be the same size."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {image_path}", image_path)
    labels = read_labels(mask_path)
    if labels.shape != image.shape[:2]:
        mask_size, image_size = "x".join(map(str, labels.shape[::-1])), "x".join(map(str, image.shape[1::-1]))
        raise DatasetError(f"mask {mask_path} is {mask_size} but its image is {image_size}", mask_path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), labels


def pick_frames(length: int, count: int, max_skip: int | None, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct frame indices in increasing order; with `max_skip`, consecutive ones at most that far
    apart (and at most as far as lets the clip fit in the video)."""
    if max_skip is None:
        return np.sort(rng.choice(length, count, replace=False))
    longest = min(max_skip, (length - 1) // max(count - 1, 1))
    steps = rng.integers(1, longest + 1, count - 1)
    start = int(rng.integers(0, length - int(steps.sum())))
    return start + np.concatenate([[0], np.cumsum(steps)])


def first_with_object(
    draw: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, what: str
) -> Clip:
    """The first draw whose frame 0 holds an object, as the reference skips clips without one."""
    for _ in range(SAMPLE_TRIES):
        frames, labels = draw(rng)
        if labels[0].any():
            return Clip(frames, labels)
    raise DatasetError(f"{SAMPLE_TRIES} clips in a row from {what} had no object in frame 0: are the masks empty?")
