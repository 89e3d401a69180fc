"""The confidence measure and the polygon tracing, on constructed inputs."""

import math

import numpy as np
import torch

from engine.propagation.confidence import DRIFT_FRAMES, U_FLOOR, distance_discount, is_lost, object_confidence
from engine.propagation.contours import trace_outline


def two_objects(height=40, width=40):
    probs = torch.zeros(3, height, width)
    probs[0] = 1
    probs[0, 5:15, 5:15], probs[1, 5:15, 5:15] = 0, 1
    probs[0, 25:35, 25:35], probs[2, 25:35, 25:35] = 0, 1
    return probs


def test_an_object_the_network_is_sure_of_has_confidence_one():
    probs = two_objects()
    confidence = object_confidence(probs, torch.full((40, 40), U_FLOOR))
    assert torch.allclose(confidence, torch.ones(2))


def test_doubt_counts_only_where_the_object_is():
    probs = two_objects()
    uncertainty = torch.full((40, 40), U_FLOOR)
    uncertainty[20:, 20:] = 1.0  # the region around object 2 is fully ambiguous
    first, second = object_confidence(probs, uncertainty).tolist()
    assert math.isclose(first, 1.0)
    assert second < 0.2


def test_an_object_with_no_pixels_has_confidence_zero():
    probs = two_objects()
    probs[0, 25:35, 25:35], probs[2] = 1, 0
    assert object_confidence(probs, torch.full((40, 40), U_FLOOR))[1] == 0


def test_confidence_is_halved_drift_frames_away_from_the_keyframe_either_way():
    assert distance_discount(0) == 1.0
    assert distance_discount(DRIFT_FRAMES) == distance_discount(-DRIFT_FRAMES) == 0.5
    assert 1.0 > distance_discount(1) > distance_discount(2) > distance_discount(10 * DRIFT_FRAMES) > 0


def test_lost_means_the_area_collapsed_relative_to_the_keyframe():
    assert is_lost(area=4, keyframe_area=1000, fraction=0.05)
    assert not is_lost(area=60, keyframe_area=1000, fraction=0.05)
    assert not is_lost(area=0, keyframe_area=0, fraction=0.05)  # absent on the keyframe: nothing to lose


def test_contours_trace_outlines_and_holes_at_pixel_coordinates():
    matte = np.zeros((50, 60), np.float32)
    matte[10:40, 10:50] = 1.0
    matte[20:30, 20:30] = 0.0  # a hole
    matte[2:5, 55:58] = 0.8  # a second small part
    polygons = trace_outline(matte, tolerance=0.5).polygons
    assert sorted(p.hole for p in polygons) == [False, False, True]
    outer = max((p for p in polygons if not p.hole), key=lambda p: len(p.points))
    xs, ys = outer.points[:, 0], outer.points[:, 1]
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 49, 10, 39)
    assert outer.points.dtype == np.float32


def test_an_empty_matte_has_no_contours():
    assert trace_outline(np.zeros((8, 8), np.float32)).polygons == []


def _speckled(size: int = 256, seed: int = 0) -> np.ndarray:
    """A matte of noise: thousands of specks and holes, as hair or grain can make one."""
    return (np.random.default_rng(seed).random((size, size)) > 0.5).astype(np.float32)


def _points(polygons) -> int:
    return sum(len(polygon.points) for polygon in polygons)


def test_an_outline_too_complex_for_the_limit_is_simplified_until_it_fits():
    matte = _speckled()
    exact = trace_outline(matte, tolerance=1.0).polygons
    outline = trace_outline(matte, tolerance=1.0, max_points=_points(exact) // 4)
    assert _points(exact) > 10_000  # the protocol's limit is 100,000 points per object; this scales it down
    assert _points(outline.polygons) <= _points(exact) // 4
    assert outline.tolerance in {2.0, 4.0, 8.0}


def test_an_outline_that_fits_keeps_the_tolerance_asked_for():
    matte = np.zeros((32, 32), np.float32)
    matte[8:24, 8:24] = 1.0
    outline = trace_outline(matte, tolerance=0.0, max_points=1000)
    exact = trace_outline(matte, tolerance=0.0).polygons
    assert outline.tolerance == 0.0 and len(outline.polygons) == len(exact) == 1
    np.testing.assert_array_equal(outline.polygons[0].points, exact[0].points)


def test_past_the_largest_useful_tolerance_the_largest_polygons_are_kept():
    matte = _speckled(64)
    matte[:, :24] = 0.0
    matte[4:20, 2:22] = 1.0  # one big square with a hole, beside the specks
    matte[10:14, 10:14] = 0.0
    outline = trace_outline(matte, tolerance=1.0, max_points=8)
    assert outline.tolerance == 8.0  # growing stops there: coarser outlines are no use
    assert _points(outline.polygons) <= 8 and outline.polygons
    assert not outline.polygons[0].hole
    assert np.ptp(outline.polygons[0].points[:, 0]) >= 15  # the big square, not a speck
