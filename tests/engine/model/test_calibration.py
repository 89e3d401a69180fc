"""A network's confidence calibrated to estimate J: fitted monotone, stored strictly, applied in order."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.calibration import LEAST_PAIRS, ConfidenceCalibration, fit_calibration


def pairs(count: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw confidences squeezed into 0.6 to 0.85, as the shipped network reports them, and J values that rise
    with them from 0.2 to 1, noisily."""
    generator = np.random.default_rng(seed)
    raw = generator.uniform(0.6, 0.85, count)
    j = np.clip((raw - 0.6) / 0.25 * 0.8 + 0.2 + generator.normal(0, 0.1, count), 0, 1)
    return raw, j


def test_the_fitted_curve_estimates_j_from_the_raw_confidence():
    raw, j = pairs()
    calibration = fit_calibration(raw, j)
    for value in (0.62, 0.7, 0.78, 0.83):
        assert calibration(np.array(value)) == pytest.approx((value - 0.6) / 0.25 * 0.8 + 0.2, abs=0.07)
    assert calibration(np.array([0.0, 1.0])).tolist() == [0.0, 1.0]  # no region stays 0, certainty 1


def test_the_curve_rises_so_the_order_of_frames_is_kept():
    raw, j = pairs()
    j[::7] = 1 - j[::7]  # plenty of pairs against the trend
    calibration = fit_calibration(raw, j)
    assert all(b > a for a, b in zip(calibration.raw, calibration.raw[1:], strict=False))
    inside = np.sort(raw)
    estimates = calibration(inside)
    assert (np.diff(estimates) >= 0).all()
    assert calibration(inside).dtype == np.float32


def test_a_calibration_survives_being_stored():
    calibration = fit_calibration(*pairs())
    assert ConfidenceCalibration.from_dict(calibration.to_dict()) == calibration


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [0.0, 1.0],
        {"raw": [0.0, 1.0]},
        {"raw": [0.0, 1.0], "estimate": [0.0, 1.0], "more": 1},
        {"raw": "0,1", "estimate": [0.0, 1.0]},
        {"raw": [0.0, 1.0], "estimate": [0.0]},
        {"raw": [0.0], "estimate": [0.0]},
        {"raw": [0.0, 0.5, 1.0], "estimate": [0.0, 0.6, 0.4]},
        {"raw": [0.0, 0.5, 0.5, 1.0], "estimate": [0.0, 0.2, 0.3, 1.0]},
        {"raw": [0.1, 1.0], "estimate": [0.0, 1.0]},
        {"raw": [0.0, 1.0], "estimate": [0.2, 1.0]},
        {"raw": [0.0, 0.5, 1.0], "estimate": [0.0, float("nan"), 1.0]},
        {"raw": [0.0, 0.5, 1.0], "estimate": [0.0, 1.5, 1.0]},
        {"raw": [0.0, True, 1.0], "estimate": [0.0, 0.5, 1.0]},
        {"raw": [0.0, "0.5", 1.0], "estimate": [0.0, 0.5, 1.0]},
    ],
)
def test_anything_but_a_rising_curve_from_0_to_1_is_refused(stored):
    with pytest.raises(ValueError, match="confidence calibration"):
        ConfidenceCalibration.from_dict(stored)


@pytest.mark.parametrize(
    ("raw", "j", "message"),
    [
        (np.full(LEAST_PAIRS - 1, 0.7), np.full(LEAST_PAIRS - 1, 0.7), "too few"),
        (np.zeros(50), np.zeros(49), "same length"),
        (np.zeros((50, 2)), np.zeros((50, 2)), "same length"),
        (np.full(50, np.nan), np.zeros(50), "finite"),
    ],
)
def test_pairs_that_cannot_be_fitted_are_refused(raw, j, message):
    with pytest.raises(ValueError, match=message):
        fit_calibration(raw, j)


def test_pairs_all_at_one_value_give_a_curve_through_their_mean():
    calibration = fit_calibration(np.full(100, 0.7), np.full(100, 0.4))
    assert calibration.raw == (0.0, 0.7, 1.0)
    assert calibration(np.array(0.7)) == pytest.approx(0.4)
