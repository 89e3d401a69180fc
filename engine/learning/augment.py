"""Augmentations of training clips, as pure functions of their inputs and a `np.random.Generator`.

They follow the reference's torchvision transforms (RandomAffine, ColorJitter, RandomResizedCrop, ToOnehot with
shuffle) in numpy and OpenCV, since torchvision is not a dependency, and add the two training tricks the design
takes from later papers: KMN's Hide-and-Seek and SKN's perturbation of the previous frame's mask. Images are
uint8 RGB (H, W, 3); labels are uint8 label maps (H, W), 0 for background. Labels are always resampled by
nearest neighbour: interpolating ids would invent ids between two objects.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.io.masks import object_ids

GREY_WEIGHTS = np.array([0.2989, 0.587, 0.114], np.float32)  # torchvision's rgb_to_grayscale


def select_objects(labels: np.ndarray, max_objects: int, rng: np.random.Generator) -> np.ndarray:
    """Keep up to `max_objects` of the ids frame 0 holds, renumbered 1..k in random order; the rest become 0.

    The reference trains on at most two objects per clip, chosen at random, and shuffles which channel each gets
    so that the network cannot learn that object 1 is the biggest or the first annotated one. Ids absent from
    frame 0 are dropped because nothing tells the network to track them.
    """
    if max_objects < 0:
        raise ValueError(f"max_objects must be at least 0, got {max_objects}")
    kept = rng.permutation(np.array(object_ids(labels[0]), np.int64))[:max_objects]
    lookup = np.zeros(256, np.uint8)
    lookup[kept] = np.arange(1, len(kept) + 1)
    return lookup[labels]


def random_affine(
    image: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    degrees: float,
    translate: float,
    scale: tuple[float, float],
    shear: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One random rotation, translation, scale and x-shear about the centre, applied to an image and its labels.

    Parameters are drawn as torchvision's RandomAffine draws them: angle in ±`degrees`, shift in ±`translate`
    of the width and height (whole pixels), scale in `scale`, x-shear in ±`shear` degrees. The image is
    resampled bilinearly with a reflected border, so no black wedges teach the network where a frame ends;
    labels by nearest neighbour with background outside.
    """
    height, width = labels.shape
    angle = math.radians(rng.uniform(-degrees, degrees))
    shift = np.round(rng.uniform(-translate, translate, 2) * (width, height))
    factor = rng.uniform(*scale)
    tilt = math.tan(math.radians(rng.uniform(-shear, shear)))
    cos, sin = math.cos(angle), math.sin(angle)
    linear = factor * np.array([[cos, -cos * tilt - sin], [sin, -sin * tilt + cos]])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    matrix = np.hstack([linear, (centre + shift - linear @ centre)[:, None]])
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    warped_labels = cv2.warpAffine(
        labels, matrix, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return warped, warped_labels


def colour_jitter(
    image: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float, saturation: float, hue: float
) -> np.ndarray:
    """torchvision's ColorJitter: the four adjustments in random order, each with a factor drawn uniformly.

    Brightness, contrast and saturation factors lie in [max(0, 1 - x), 1 + x]; the hue shift in ±`hue` of a
    full turn. Contrast blends towards the mean grey level, saturation towards the pixel's own grey; values are
    clipped to [0, 255] after each step as torchvision does, and rounded once at the end.
    """
    factors = [rng.uniform(max(0.0, 1 - x), 1 + x) for x in (brightness, contrast, saturation)]
    shift = rng.uniform(-hue, hue)
    steps = [
        lambda rgb: rgb * factors[0],
        lambda rgb: _blend(rgb, float((rgb @ GREY_WEIGHTS).mean()), factors[1]),
        lambda rgb: _blend(rgb, (rgb @ GREY_WEIGHTS)[:, :, None], factors[2]),
        lambda rgb: _rotate_hue(rgb, shift),
    ]
    rgb = image.astype(np.float32)
    for index in rng.permutation(len(steps)):
        rgb = np.clip(steps[index](rgb), 0, 255)
    return np.round(rgb).astype(np.uint8)


def hflip(array: np.ndarray) -> np.ndarray:
    """A mirror image, left to right, of an (H, W) or (H, W, C) array (a contiguous copy, ready for OpenCV)."""
    return np.ascontiguousarray(array[:, ::-1])


def random_resized_crop(
    images: np.ndarray,
    labels: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.8, 1.0),
    ratio: tuple[float, float] = (0.95, 1.05),
    tries: int = 10,
    need_foreground: bool = True,
    independent: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop (T, H, W, 3) frames and (T, H, W) labels to a random window of `scale` of the area and aspect
    `ratio` (width over height), resized to `size` (height, width).

    One window serves the whole clip unless `independent`, in which case each frame gets its own, as the
    reference crops DAVIS frames. With `need_foreground` the draw is repeated up to `tries` times until frame 0's
    window holds an object, since a clip whose first frame is empty teaches nothing; after that the last draw
    is kept and the caller decides.
    """
    if tries < 1:
        raise ValueError(f"tries must be at least 1, got {tries}")
    count, height, width = labels.shape
    windows: list[tuple[int, int, int, int]] = []
    for _ in range(tries):
        first = _crop_window(height, width, scale, ratio, rng)
        others = (_crop_window(height, width, scale, ratio, rng) if independent else first for _ in range(count - 1))
        windows = [first, *others]
        top, left, crop_height, crop_width = first
        if not need_foreground or labels[0, top : top + crop_height, left : left + crop_width].any():
            break
    cropped = [_resize_window(*arrays, size) for arrays in zip(images, labels, windows, strict=True)]
    return np.stack([image for image, _ in cropped]), np.stack([label for _, label in cropped])


def hide_and_seek(image: np.ndarray, rng: np.random.Generator, probability: float, grid: int = 4) -> np.ndarray:
    """KMN's Hide-and-Seek: each cell of a `grid` x `grid` division hidden with `probability`.

    Hidden cells take the image's mean colour (the Hide-and-Seek paper's choice, which keeps the image's
    statistics): on static images this cuts objects into parts and makes sharp new edges, the occlusions and
    boundaries that video has and single photos lack.
    """
    height, width = image.shape[:2]
    hidden = rng.random((grid, grid)) < probability
    rows = np.repeat(np.arange(grid), np.diff(np.linspace(0, height, grid + 1).round().astype(int)))
    columns = np.repeat(np.arange(grid), np.diff(np.linspace(0, width, grid + 1).round().astype(int)))
    out = image.copy()
    out[hidden[rows][:, columns]] = np.round(image.reshape(-1, image.shape[2]).mean(axis=0)).astype(image.dtype)
    return out


def perturb_mask(
    labels: np.ndarray,
    rng: np.random.Generator,
    swap_probability: float = 0.5,
    flip_probability: float = 0.5,
    morph_probability: float = 0.5,
    region: tuple[float, float] = (0.05, 0.25),
    kernel: tuple[int, int] = (3, 7),
) -> np.ndarray:
    """SKN's perturbation of the previous frame's mask, so that training sees the errors inference makes.

    - With `swap_probability`: two squares, centred on pixels of two different ids (an object and background
      when there is one object), exchange their labels, as when the previous prediction mixed up two objects.
    - With `flip_probability`: inside a rectangle around a pixel of a random object k, k becomes background and
      background becomes k, as a prediction that missed part of k and spilled elsewhere.
    - Each object independently with `morph_probability`: dilated or eroded (even odds) by an ellipse of odd
      diameter in `kernel`, as a prediction a little too fat or too thin.

    Square sides and rectangle sides are fractions in `region` of the mask's shorter side and of its height and
    width. Ids only move: the result holds no id the input lacks (besides background).
    """
    out = labels.copy()
    ids = object_ids(labels)
    if not ids:
        return out
    present = [int(value) for value in np.flatnonzero(np.bincount(labels.reshape(-1), minlength=256))]
    if rng.random() < swap_probability and len(present) > 1:
        _swap_squares(out, rng.choice(ids if len(ids) > 1 else present, 2, replace=False), region, rng)
    if rng.random() < flip_probability:
        _flip_rectangle(out, int(rng.choice(ids)), region, rng)
    for object_id in ids:
        if rng.random() < morph_probability:
            _dilate_or_erode(out, object_id, kernel, rng)
    return out


def _blend(rgb: np.ndarray, other: np.ndarray | float, factor: float) -> np.ndarray:
    return factor * rgb + (1 - factor) * other


def _rotate_hue(rgb: np.ndarray, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(rgb / 255, cv2.COLOR_RGB2HSV)  # float input: hue in degrees, [0, 360)
    hsv[:, :, 0] = (hsv[:, :, 0] + 360 * shift) % 360
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255


def _crop_window(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(top, left, height, width) as torchvision's RandomResizedCrop.get_params draws it."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        crop_width, crop_height = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = int(rng.integers(0, height - crop_height + 1))
            return top, int(rng.integers(0, width - crop_width + 1)), crop_height, crop_width
    aspect = width / height  # no draw fitted: the central crop of the nearest allowed aspect
    if aspect < min(ratio):
        crop_width, crop_height = width, round(width / min(ratio))
    elif aspect > max(ratio):
        crop_width, crop_height = round(height * max(ratio)), height
    else:
        crop_width, crop_height = width, height
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def _resize_window(
    image: np.ndarray, labels: np.ndarray, window: tuple[int, int, int, int], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    top, left, crop_height, crop_width = window
    rows, columns = slice(top, top + crop_height), slice(left, left + crop_width)
    shrinking = crop_height * crop_width > size[0] * size[1]  # area averaging does not alias; it cannot enlarge
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(image[rows, columns], size[::-1], interpolation=interpolation)
    return resized, cv2.resize(labels[rows, columns], size[::-1], interpolation=cv2.INTER_NEAREST)


def _random_box(labels: np.ndarray, value: int, box: tuple[int, int], rng: np.random.Generator) -> tuple[slice, slice]:
    """A (height, width) box inside the mask, centred as near as it fits on a random pixel labelled `value`."""
    height, width = labels.shape
    centre = int(rng.choice(np.flatnonzero(labels.reshape(-1) == value)))
    top = int(np.clip(centre // width - box[0] // 2, 0, height - box[0]))
    left = int(np.clip(centre % width - box[1] // 2, 0, width - box[1]))
    return slice(top, top + box[0]), slice(left, left + box[1])


def _box_side(length: int, region: tuple[float, float], rng: np.random.Generator) -> int:
    return int(np.clip(round(rng.uniform(*region) * length), 1, length))


def _swap_squares(labels: np.ndarray, pair: np.ndarray, region: tuple[float, float], rng: np.random.Generator) -> None:
    side = _box_side(min(labels.shape), region, rng)
    first, second = (_random_box(labels, int(value), (side, side), rng) for value in pair)
    first_content, second_content = labels[first].copy(), labels[second].copy()
    labels[first], labels[second] = second_content, first_content


def _flip_rectangle(labels: np.ndarray, object_id: int, region: tuple[float, float], rng: np.random.Generator) -> None:
    box = (_box_side(labels.shape[0], region, rng), _box_side(labels.shape[1], region, rng))
    inside = labels[_random_box(labels, object_id, box, rng)]  # a view: writes go to `labels`
    was_object = inside == object_id
    inside[inside == 0] = object_id
    inside[was_object] = 0


def _dilate_or_erode(labels: np.ndarray, object_id: int, kernel: tuple[int, int], rng: np.random.Generator) -> None:
    diameter = 2 * int(rng.integers(kernel[0] // 2, kernel[1] // 2 + 1)) + 1
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))
    mask = (labels == object_id).astype(np.uint8)
    if rng.random() < 0.5:
        labels[cv2.dilate(mask, element) > 0] = object_id
    else:
        labels[(mask > 0) & (cv2.erode(mask, element) == 0)] = 0
