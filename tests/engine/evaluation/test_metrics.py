"""DAVIS J and F: reproduce the official evaluation's numbers, and pin down the edge cases it defines."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.evaluation.metrics import (
    boundary_map,
    boundary_measure,
    decay_bin_edges,
    default_tolerance,
    disk,
    evaluate_sequence,
    read_binary_mask,
    region_similarity,
    sequence_statistics,
    summarise,
)
from tests.paths import FIXTURES

METRIC_FIXTURES = FIXTURES / "davis-metric"
CROSSCHECK = json.loads((METRIC_FIXTURES / "metric_crosscheck.json").read_text())
STAT_KEYS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")
ELLIPSE_11 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))

PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "erode_ellipse11": lambda mask: cv2.erode(mask, ELLIPSE_11),
    "dilate_ellipse11": lambda mask: cv2.dilate(mask, ELLIPSE_11),
    "shift_right_12px": lambda mask: np.roll(mask, 12, axis=1),
}


@functools.cache
def ground_truth(sequence: str) -> tuple[np.ndarray, ...]:
    paths = sorted((METRIC_FIXTURES / sequence).glob("*.png"))
    assert paths, f"no annotations for {sequence} in {METRIC_FIXTURES}"
    return tuple(read_binary_mask(path) for path in paths)


def test_crosscheck_covers_every_case() -> None:
    assert sorted(CROSSCHECK) == ["blackswan", "car-shadow", "motocross-jump", "scooter-black"]
    for per_perturbation in CROSSCHECK.values():
        assert sorted(per_perturbation) == sorted(PERTURBATIONS)
        for stats in per_perturbation.values():
            assert sorted(stats) == sorted(STAT_KEYS)


@pytest.mark.parametrize("perturbation", sorted(PERTURBATIONS))
@pytest.mark.parametrize("sequence", sorted(CROSSCHECK))
def test_matches_official_evaluation(sequence: str, perturbation: str) -> None:
    gts = ground_truth(sequence)
    preds = [PERTURBATIONS[perturbation](gt) for gt in gts]

    result = evaluate_sequence(preds, gts)

    assert list(result) == [1]
    expected = CROSSCHECK[sequence][perturbation]
    for key in STAT_KEYS:
        assert result[1][key] == pytest.approx(expected[key], abs=1e-6, rel=0), key


def test_fixture_masks_are_binary() -> None:
    raw = cv2.imread(str(METRIC_FIXTURES / "blackswan" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint8 and raw.ndim == 2
    assert set(np.unique(raw).tolist()) == {0, 255}
    assert np.array_equal(read_binary_mask(METRIC_FIXTURES / "blackswan" / "00000.png"), raw // 255)


def test_read_binary_mask_thresholds_at_128(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), np.array([[0, 127, 128, 255]], dtype=np.uint8))
    assert read_binary_mask(path).tolist() == [[0, 0, 1, 1]]
    with pytest.raises(FileNotFoundError):
        read_binary_mask(tmp_path / "missing.png")


def test_both_empty_score_one() -> None:
    empty = np.zeros((6, 7), dtype=bool)
    assert region_similarity(empty, empty) == 1.0
    assert boundary_measure(empty, empty) == 1.0


def test_empty_prediction_of_present_object_scores_zero() -> None:
    gt = np.zeros((10, 10), dtype=np.uint8)
    gt[3:7, 2:8] = 1
    empty = np.zeros_like(gt)
    assert region_similarity(empty, gt) == 0.0
    assert boundary_measure(empty, gt) == 0.0  # P = 1, R = 0
    assert boundary_measure(gt, empty) == 0.0  # spurious object: P = 0, R = 1


def test_region_similarity_is_iou() -> None:
    pred = np.zeros((4, 4), dtype=bool)
    gt = np.zeros((4, 4), dtype=bool)
    pred[0, 0:3] = True
    gt[0, 1:4] = True
    assert region_similarity(pred, gt) == pytest.approx(2 / 4)


def test_boundary_map_of_a_square() -> None:
    mask = np.array(
        [
            [0, 0, 0, 0, 0],
            [0, 1, 1, 0, 0],
            [0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    # A pixel differs from its east, south or south-east neighbour; the last row looks east only.
    expected = np.array(
        [
            [1, 1, 1, 0, 0],
            [1, 0, 1, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=bool,
    )
    assert np.array_equal(boundary_map(mask), expected)


def test_boundary_map_edge_rules() -> None:
    corner = np.zeros((3, 3), dtype=np.uint8)
    corner[2, 2] = 1
    # (1, 1) sees it south-east, (1, 2) in the last column south, (2, 1) in the last row east; the corner is 0.
    assert boundary_map(corner).astype(int).tolist() == [[0, 0, 0], [0, 1, 1], [0, 1, 0]]
    # Nothing is compared with the outside of the image, so a full mask has no boundary.
    assert not boundary_map(np.ones((4, 5), dtype=bool)).any()


def test_disk_is_the_lattice_disk_not_opencvs_ellipse() -> None:
    assert disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    offsets = np.arange(-8, 9)
    assert np.array_equal(disk(8), (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= 64).astype(np.uint8))
    assert disk(8).sum() == 197
    assert not np.array_equal(disk(8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17)))


def test_default_tolerance() -> None:
    assert default_tolerance((480, 854)) == 8
    assert default_tolerance((240, 427)) == math.ceil(0.008 * math.hypot(240, 427)) == 4


def test_boundary_measure_tolerance() -> None:
    gt = np.zeros((40, 40), dtype=np.uint8)
    gt[10:30, 10:30] = 1
    shifted = np.roll(gt, 3, axis=1)
    assert boundary_measure(shifted, gt, tolerance=3) == 1.0
    assert boundary_measure(shifted, gt, tolerance=2) < 1.0
    # Of the 80 boundary pixels, within 2 px of the other boundary: 20 of the 21 on the top row, 19 of the 20 on the
    # bottom row, 5 of the 20 on the left (near the corners), none of the 19 on the right; so P = R = 44 / 80.
    assert boundary_measure(shifted, gt, tolerance=2) == pytest.approx(44 / 80)


def test_sequence_statistics() -> None:
    values = np.arange(10) / 10
    # N = 10: edges round(linspace(1, 10, 5)) - 1 = [0, 2, 5, 7, 9], first bin values[0:3], last values[7:10].
    assert decay_bin_edges(10).tolist() == [0, 2, 5, 7, 9]
    stats = sequence_statistics(values)
    assert stats["mean"] == pytest.approx(0.45)
    assert stats["recall"] == pytest.approx(0.4)  # 0.6 to 0.9; 0.5 itself is not above the threshold
    assert stats["decay"] == pytest.approx(0.1 - 0.8)


def test_decay_past_256_frames() -> None:
    n = 300
    values = np.linspace(1.0, 0.0, n) ** 2

    # Straightforward quarters: edge i at 1 + i (N - 1) / 4, halves rounded up, made 0-based.
    edges = [math.floor(1 + i * (n - 1) / 4 + 0.5) - 1 for i in range(5)]
    assert edges == [0, 75, 150, 224, 299]
    first = values[edges[0] : edges[1] + 1].tolist()
    last = values[edges[3] : edges[4] + 1].tolist()
    expected = sum(first) / len(first) - sum(last) / len(last)

    assert decay_bin_edges(n).tolist() == edges
    assert sequence_statistics(values)["decay"] == pytest.approx(expected, abs=1e-12)
    # A uint8 cast would wrap the last edge to 43 and leave the last bin empty.
    assert edges[4] % 256 == 43 < edges[3]


def test_multi_object_label_maps_are_scored_per_object() -> None:
    height, width, frames = 30, 40, 6
    gts = []
    for t in range(frames):
        labels = np.zeros((height, width), dtype=np.uint8)
        labels[5:15, 2 + t : 12 + t] = 1
        labels[18:28, 20:30] = 2
        gts.append(labels)
    # Object 1 is predicted a little too wide; object 2 is missed entirely.
    preds = []
    for gt in gts:
        pred = np.zeros_like(gt)
        pred[cv2.dilate((gt == 1).astype(np.uint8), np.ones((1, 3), np.uint8)) > 0] = 1
        preds.append(pred)

    result = evaluate_sequence(preds, gts)

    assert sorted(result) == [1, 2]
    single = evaluate_sequence([p == 1 for p in preds], [g == 1 for g in gts])[1]
    assert result[1] == single
    assert 0 < result[1]["J_mean"] < 1
    assert result[1]["J_mean"] == pytest.approx(100 / 120)
    assert result[2] == {"J_mean": 0.0, "J_recall": 0.0, "J_decay": 0.0, "F_mean": 0.0, "F_recall": 0.0, "F_decay": 0.0}


def test_first_and_last_frames_are_not_scored() -> None:
    gt = np.zeros((20, 20), dtype=np.uint8)
    gt[5:15, 5:15] = 1
    wrong = np.zeros_like(gt)
    result = evaluate_sequence([wrong, gt, gt, wrong], [gt] * 4)[1]
    assert result["J_mean"] == result["F_mean"] == 1.0
    unexcluded = evaluate_sequence([wrong, gt, gt, wrong], [gt] * 4, exclude_first_last=False)[1]
    assert unexcluded["J_mean"] == unexcluded["F_mean"] == 0.5


def test_unknown_predicted_label_is_an_error() -> None:
    gt = np.zeros((8, 8), dtype=np.uint8)
    gt[2:5, 2:5] = 1
    pred = gt.copy()
    pred[6, 6] = 3
    with pytest.raises(ValueError, match=r"\[3\]"):
        evaluate_sequence([gt, pred, gt], [gt, gt, gt])


def test_summarise_weights_every_object_equally() -> None:
    def stats(j: float, f: float) -> dict[str, float]:
        return {"J_mean": j, "J_recall": 1.0, "J_decay": 0.0, "F_mean": f, "F_recall": 1.0, "F_decay": 0.0}

    per_sequence = {"two-objects": {1: stats(0.9, 0.8), 2: stats(0.6, 0.5)}, "one-object": {1: stats(0.3, 0.2)}}
    summary = summarise(per_sequence)
    assert summary["J_mean"] == pytest.approx((0.9 + 0.6 + 0.3) / 3)
    assert summary["F_mean"] == pytest.approx((0.8 + 0.5 + 0.2) / 3)
    assert summary["JF_mean"] == pytest.approx((0.6 + 0.5) / 2)
    assert summary["J_recall"] == 1.0
