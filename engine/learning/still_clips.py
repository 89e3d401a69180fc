"""A clip made from one still image and its mask: the static-image training of STM-family networks.

Frame 0 is the image; each later frame is a copy changed as one video frame changes into another (colour
jitter, a random affine, sometimes a mirror image), and one crop is cut for the whole clip. Training's
`StaticImages` makes its clips this way, and so does a shot's adaptation from its keyframes.
"""

from __future__ import annotations

import numpy as np

from engine.learning.augment import colour_jitter, hflip, random_affine, random_resized_crop, select_objects


def still_clip(
    image: np.ndarray,
    labels: np.ndarray,
    frames: int,
    size: tuple[int, int],
    max_objects: int,
    rng: np.random.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip_probability: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """The frames (T, H, W, 3) and labels (T, H, W) of a clip of `frames` frames of `size` (height, width) from
    `image` (H, W, 3) and `labels` (H, W), with at most `max_objects` of the objects, renumbered 1..k; crops of
    `ratio` (width over height) of 80 to 100 % of the area. Frame 0 may have lost every object to the crop: the
    caller draws again."""
    images, label_maps = [image], [labels]
    for _ in range(1, frames):
        copy, copy_labels = (hflip(image), hflip(labels)) if rng.random() < hflip_probability else (image, labels)
        copy, copy_labels = deform(copy, copy_labels, rng, 0.03, 20, (0.9, 1.1))
        images.append(copy)
        label_maps.append(copy_labels)
    return crop_and_select(images, label_maps, size, ratio, max_objects, rng)


def deform(
    image: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    hue: float,
    degrees: float,
    scale: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's change between frames: colour jitter (0.1 brightness, contrast and saturation, `hue`),
    then a random affine (±`degrees`, translation 0.1, `scale`, x-shear ±10 degrees); the ranges that differ
    between video and static images are the arguments."""
    jittered = colour_jitter(image, rng, 0.1, 0.1, 0.1, hue)
    return random_affine(jittered, labels, rng, degrees, 0.1, scale, 10)


def crop_and_select(
    images: list[np.ndarray],
    labels: list[np.ndarray],
    size: tuple[int, int],
    ratio: tuple[float, float],
    max_objects: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's last two steps: one crop of (0.8, 1) of the area for the clip, then the objects kept."""
    cropped, cropped_labels = random_resized_crop(np.stack(images), np.stack(labels), size, rng, (0.8, 1.0), ratio)
    return cropped, select_objects(cropped_labels, max_objects, rng)
