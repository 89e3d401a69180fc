"""Spearman's rank correlation, as the confidence check uses it."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from engine.evaluation.confidence_rank import ScoredFrame, read_pairs, spearman, write_pairs


def test_orders_that_agree_or_disagree_fully():
    x = np.array([0.1, 0.5, 0.3, 0.9])
    assert spearman(x, x**2) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)


def test_ties_share_their_mean_rank():
    # ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5)
    assert spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(4.5 / 22.5**0.5)


@pytest.mark.parametrize(("x", "y"), [([0.1, 0.2], [0.3, 0.4]), ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]), ([], [])])
def test_undefined_correlations_are_none(x, y):
    assert spearman(np.array(x), np.array(y)) is None


def test_unpaired_values_are_refused():
    with pytest.raises(ValueError, match="3 values against 2"):
        spearman(np.zeros(3), np.zeros(2))


def test_scored_frames_are_written_by_name_and_read_back(tmp_path):
    scored = [ScoredFrame("shot,010", "00001", 1, 0.8, 0.9), ScoredFrame('say "hi"', "00002", 2, 0.25, 0.5)]
    path = write_pairs(tmp_path / "confidence-j.csv", scored)
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["sequence"], r["frame"], int(r["object"])) for r in rows] == [s[:3] for s in scored]
    confidence, j = read_pairs(path)
    np.testing.assert_allclose(confidence, [0.8, 0.25])
    np.testing.assert_allclose(j, [0.9, 0.5])
