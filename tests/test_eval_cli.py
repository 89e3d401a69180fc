"""`maskprop eval` reproduces the official DAVIS evaluation's numbers from files, through the command line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "davis-metric"
SEQUENCES = ["blackswan", "car-shadow"]
ELLIPSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))


@pytest.fixture
def davis(tmp_path) -> tuple[Path, Path]:
    """A DAVIS folder of the fixture annotations, and predictions that are those annotations eroded."""
    annotations, predictions = tmp_path / "davis" / "Annotations", tmp_path / "pred"
    for name in SEQUENCES:
        (annotations / name).mkdir(parents=True)
        (predictions / name).mkdir(parents=True)
        for source in sorted((FIXTURES / name).glob("*.png")):
            (annotations / name / source.name).write_bytes(source.read_bytes())
            mask = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(predictions / name / source.name), cv2.erode(mask, ELLIPSE))
    return tmp_path / "davis", predictions


def test_eval_matches_the_official_numbers(davis):
    root, predictions = davis
    done = subprocess.run(
        [sys.executable, "-m", "engine", "eval", "--gt", str(root), "--pred", str(predictions)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    official = json.loads((FIXTURES / "metric_crosscheck.json").read_text())
    with (predictions / "per-sequence.csv").open() as table:
        rows = list(csv.DictReader(table))
    assert [row["sequence"] for row in rows] == SEQUENCES
    for row in rows:
        expected = official[row["sequence"]]["erode_ellipse11"]
        for key, value in expected.items():
            assert float(row[key]) == pytest.approx(value, abs=1e-6), (row["sequence"], key)
    with (predictions / "overall.csv").open() as table:
        (overall,) = csv.DictReader(table)
    j = np.mean([official[name]["erode_ellipse11"]["J_mean"] for name in SEQUENCES])
    f = np.mean([official[name]["erode_ellipse11"]["F_mean"] for name in SEQUENCES])
    assert float(overall["JF_mean"]) == pytest.approx((j + f) / 2, abs=1e-6)
    assert "overall" in done.stdout


def test_a_missing_prediction_is_a_clear_error(davis):
    root, predictions = davis
    next((predictions / "car-shadow").glob("*.png")).unlink()
    done = subprocess.run(
        [sys.executable, "-m", "engine", "eval", "--gt", str(root), "--pred", str(predictions)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: no prediction")
