"""DAVIS video object segmentation metrics: region similarity J, boundary accuracy F, and their J&F summary.

The numbers match the official semi-supervised evaluation (github.com/davisvideochallenge/davis2017-evaluation)
so that scores are comparable with published results: the test suite reproduces the official per-sequence values
to 1e-6. Only numpy and OpenCV are used; the official code's scikit-image and scipy dependencies are not needed.

The one intentional difference: the official decay statistic casts its bin boundaries to uint8, which wraps
around for sequences of more than 256 evaluated frames. Here they are computed without the cast (see
`decay_bin_edges`), which gives the same result for every sequence of the DAVIS benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

# Boundary tolerance as a fraction of the image diagonal, as in the DAVIS benchmark (8 px at 854x480).
BOUNDARY_TOLERANCE_FRACTION = 0.008
# A frame counts towards the recall statistic when its score is above this.
RECALL_THRESHOLD = 0.5
# The decay statistic compares the first and the last of this many temporal bins.
DECAY_BINS = 4

STATISTICS = ("mean", "recall", "decay")
MEASURES = ("J", "F")


def read_binary_mask(path: str | Path) -> np.ndarray:
    """Read a DAVIS 2016 annotation (8-bit grayscale, 0 = background, 255 = object) as a 0/1 uint8 mask.

    The benchmark reads these files as 8-bit luminance and thresholds at 128. For plain 8-bit grayscale PNGs,
    OpenCV's grayscale read returns the stored values unchanged, exactly as PIL's ``convert("L")`` does. DAVIS 2017
    palette PNGs store object ids as palette indices and must not be read this way (luminance would mix them).
    """
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(f"cannot read mask image {path}")
    return (image >= 128).astype(np.uint8)


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J: intersection over union of two binary masks (any non-zero value is foreground).

    Two empty masks agree perfectly, so J is 1 then rather than undefined: a prediction that correctly says the
    object is absent (occluded, out of frame) must not be penalised.
    """
    pred = np.asarray(pred).astype(bool)
    gt = np.asarray(gt).astype(bool)
    _check_same_shape(pred, gt)
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return np.count_nonzero(pred & gt) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a binary mask, as the benchmark's ``seg2bmap`` defines them.

    A pixel is on the boundary when it differs from its east, south or south-east neighbour. In the last row only
    the east neighbour exists, in the last column only the south one, and the bottom-right corner is never a
    boundary pixel. There is no thinning step. The boundary therefore lies on the background side of left and top
    edges and on the foreground side of right and bottom edges; F depends on this, so it must not be "improved".
    """
    seg = np.asarray(mask).astype(bool)
    if seg.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {seg.shape}")
    bmap = np.zeros(seg.shape, dtype=bool)
    inner = seg[:-1, :-1]
    bmap[:-1, :-1] = (inner != seg[:-1, 1:]) | (inner != seg[1:, :-1]) | (inner != seg[1:, 1:])
    bmap[-1, :-1] = seg[-1, :-1] != seg[-1, 1:]
    bmap[:-1, -1] = seg[:-1, -1] != seg[1:, -1]
    return bmap


def default_tolerance(shape: tuple[int, ...]) -> int:
    """Boundary match tolerance in pixels: 0.8% of the image diagonal, rounded up (8 px at 854x480)."""
    height, width = shape[:2]
    return math.ceil(BOUNDARY_TOLERANCE_FRACTION * math.hypot(height, width))


def disk(radius: int) -> np.ndarray:
    """Disk structuring element of the points with ``x**2 + y**2 <= radius**2``, as a uint8 array.

    This is the benchmark's disk. OpenCV's ``getStructuringElement(MORPH_ELLIPSE, ...)`` draws a slightly different
    shape and would change F.
    """
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)


def boundary_measure(pred: np.ndarray, gt: np.ndarray, tolerance: int | None = None) -> float:
    """F: harmonic mean of boundary precision and recall, matching boundaries within ``tolerance`` pixels.

    Precision is the fraction of predicted boundary pixels within the tolerance of a ground-truth boundary pixel,
    recall the converse. Without a boundary on one side: an empty prediction of a non-empty object has P = 1 and
    R = 0 (so F = 0), a spurious prediction of an absent object P = 0 and R = 1 (F = 0), and two empty masks F = 1.
    ``tolerance`` defaults to `default_tolerance` of the mask shape.
    """
    pred = np.asarray(pred).astype(bool)
    gt = np.asarray(gt).astype(bool)
    _check_same_shape(pred, gt)
    if tolerance is None:
        tolerance = default_tolerance(gt.shape)

    pred_boundary = boundary_map(pred)
    gt_boundary = boundary_map(gt)
    n_pred = np.count_nonzero(pred_boundary)
    n_gt = np.count_nonzero(gt_boundary)
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        # One side has no boundary: P and R are 1 and 0 in some order, so F is 0.
        return 0.0

    kernel = disk(tolerance)
    gt_near = cv2.dilate(gt_boundary.view(np.uint8), kernel).view(bool)
    pred_near = cv2.dilate(pred_boundary.view(np.uint8), kernel).view(bool)
    precision = np.count_nonzero(pred_boundary & gt_near) / n_pred
    recall = np.count_nonzero(gt_boundary & pred_near) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def decay_bin_edges(n_values: int) -> np.ndarray:
    """Start indices of the benchmark's temporal bins: ``round(linspace(1, N, 5) + 1e-10) - 1``.

    Bin ``i`` is ``values[edges[i]:edges[i + 1] + 1]``, so neighbouring bins share one frame. The ``1e-10`` makes
    halves round up rather than to even. The official code casts these indices to uint8, so for more than 256
    values they wrap around (for 300 values the last edge becomes 43, the last bin is empty and the official decay
    is NaN); they are kept as int64 here, which is the intended result and identical to the official one up to
    256 values.
    """
    if n_values < 1:
        raise ValueError("decay needs at least one value")
    return (np.round(np.linspace(1, n_values, DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)


def sequence_statistics(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Summarise one object's per-frame J or F scores as the benchmark does.

    - ``mean``: the average score;
    - ``recall``: the fraction of frames scoring above 0.5;
    - ``decay``: the mean of the first temporal quarter minus the mean of the last (`decay_bin_edges`), i.e. how
      much quality is lost as propagation drifts away from the annotated frame.
    """
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"expected a non-empty 1-D sequence of scores, got shape {scores.shape}")
    edges = decay_bin_edges(scores.size)
    first = scores[edges[0] : edges[1] + 1]
    last = scores[edges[DECAY_BINS - 1] : edges[DECAY_BINS] + 1]
    return {
        "mean": float(scores.mean()),
        "recall": float(np.mean(scores > RECALL_THRESHOLD)),
        "decay": float(first.mean() - last.mean()),
    }


def frame_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F of one object, given its binary prediction and ground-truth masks frame by frame."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predicted frames for {len(gts)} ground-truth frames")
    j = np.array([region_similarity(p, g) for p, g in zip(preds, gts, strict=True)], dtype=np.float64)
    f = np.array([boundary_measure(p, g) for p, g in zip(preds, gts, strict=True)], dtype=np.float64)
    return j, f


def evaluate_sequence(
    preds: Sequence[np.ndarray],
    gts: Sequence[np.ndarray],
    *,
    object_ids: Sequence[int] | None = None,
    exclude_first_last: bool = True,
) -> dict[int, dict[str, float]]:
    """J and F statistics of every object of one sequence, keyed by object id.

    ``preds`` and ``gts`` are the sequence's label maps frame by frame (2-D integer arrays; 0 is background and
    every other value one object, as in DAVIS 2017 palette PNGs; a 0/1 or boolean mask is a single object 1).
    Each object is scored on its own binary masks; a prediction without that object's label counts as empty.
    Each object's result has the keys ``J_mean``, ``J_recall``, ``J_decay``, ``F_mean``, ``F_recall`` and
    ``F_decay``.

    ``object_ids`` defaults to every non-zero label of the ground truth. (The official code takes ids 1 to the
    largest id of the first frame; the two agree when every object appears in the first frame, as in DAVIS.)
    A predicted label that is not one of the objects is an error, as in the official code, since it means the
    prediction and the ground truth disagree on the ids. The semi-supervised protocol scores neither the first
    frame (given as input) nor the last, so both are dropped unless ``exclude_first_last`` is false.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predicted frames for {len(gts)} ground-truth frames")
    pred_maps = [_label_map(p) for p in preds]
    gt_maps = [_label_map(g) for g in gts]
    for p, g in zip(pred_maps, gt_maps, strict=True):
        _check_same_shape(p, g)

    if object_ids is None:
        object_ids = sorted(set().union(*(_labels(g) for g in gt_maps)) - {0})
    else:
        object_ids = [int(i) for i in object_ids]
    extra = sorted(set().union(*(_labels(p) for p in pred_maps)) - {0, *object_ids})
    if extra:
        raise ValueError(f"prediction has labels {extra} that are not objects of the ground truth {object_ids}")

    if exclude_first_last:
        if len(gt_maps) < 3:
            raise ValueError("a sequence needs at least 3 frames when the first and the last are excluded")
        pred_maps, gt_maps = pred_maps[1:-1], gt_maps[1:-1]

    results: dict[int, dict[str, float]] = {}
    for object_id in object_ids:
        j, f = frame_scores([p == object_id for p in pred_maps], [g == object_id for g in gt_maps])
        results[object_id] = {}
        for measure, scores in (("J", j), ("F", f)):
            for name, value in sequence_statistics(scores).items():
                results[object_id][f"{measure}_{name}"] = value
    return results


def summarise(per_sequence: Mapping[str, Mapping[int, Mapping[str, float]]]) -> dict[str, float]:
    """Benchmark-wide statistics from `evaluate_sequence` results keyed by sequence name.

    Every statistic is averaged over all objects of all sequences, each object weighing the same (a sequence with
    three objects counts three times), as the official global results do. ``JF_mean``, the headline J&F score, is
    the mean of ``J_mean`` and ``F_mean``.
    """
    objects = [stats for sequence in per_sequence.values() for stats in sequence.values()]
    if not objects:
        raise ValueError("no objects to summarise")
    keys = [f"{measure}_{name}" for measure in MEASURES for name in STATISTICS]
    summary = {key: float(np.mean([stats[key] for stats in objects])) for key in keys}
    summary["JF_mean"] = (summary["J_mean"] + summary["F_mean"]) / 2
    return summary


def _label_map(labels: np.ndarray) -> np.ndarray:
    """A 2-D integer label map; booleans become 0/1 so that a binary mask is object 1."""
    array = np.asarray(labels)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D label map, got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"expected integer labels, got dtype {array.dtype}")
    return array


def _labels(label_map: np.ndarray) -> set[int]:
    """The labels present in a label map; a histogram for 8- and 16-bit maps, which is much faster than sorting."""
    if label_map.dtype in (np.uint8, np.uint16):
        return {int(i) for i in np.flatnonzero(np.bincount(label_map.ravel()))}
    return {int(i) for i in np.unique(label_map)}


def _check_same_shape(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
