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

from engine.evaluation.confidence_rank import read_pairs
from tests.paths import FIXTURES

METRIC_FIXTURES = FIXTURES / "davis-metric"
SEQUENCES = ["blackswan", "car-shadow"]
ELLIPSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))


@pytest.fixture
def davis(tmp_path) -> tuple[Path, Path]:
    """A DAVIS folder of the fixture annotations, and predictions that are those annotations eroded."""
    annotations, predictions = tmp_path / "davis" / "Annotations", tmp_path / "pred"
    for name in SEQUENCES:
        (annotations / name).mkdir(parents=True)
        (predictions / name).mkdir(parents=True)
        for source in sorted((METRIC_FIXTURES / name).glob("*.png")):
            (annotations / name / source.name).write_bytes(source.read_bytes())
            mask = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(predictions / name / source.name), cv2.erode(mask, ELLIPSE))
    return tmp_path / "davis", predictions


def _eval(root: Path, predictions: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "eval", "--gt", str(root), "--pred", str(predictions)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_eval_matches_the_official_numbers(davis):
    root, predictions = davis
    done = _eval(root, predictions)
    assert done.returncode == 0, done.stderr
    official = json.loads((METRIC_FIXTURES / "metric_crosscheck.json").read_text())
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
    done = _eval(root, predictions)
    assert done.returncode == 2
    assert done.stderr.startswith("error: no prediction")


def _write_confidence(predictions: Path, gt_root: Path, rank_by_j: bool) -> None:
    """confidence.csv per sequence: each frame's J itself (a perfect ranking), or nonsense."""
    from engine.evaluation.metrics import region_similarity

    for name in SEQUENCES:
        rows = ["frame,name,object,confidence,lost,area"]
        for index, source in enumerate(sorted((gt_root / "Annotations" / name).glob("*.png"))):
            gt = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE) > 127
            pred = cv2.imread(str(predictions / name / source.name), cv2.IMREAD_GRAYSCALE) > 127
            value = region_similarity(pred, gt) if rank_by_j else "high"
            rows.append(f"{index},{source.stem},1,{value},false,{int(pred.sum())}")
        (predictions / name / "confidence.csv").write_text("\n".join(rows) + "\n")


def test_eval_says_how_well_confidence_ranks_the_frames(davis):
    root, predictions = davis
    _write_confidence(predictions, root, rank_by_j=True)
    done = _eval(root, predictions)
    assert done.returncode == 0, done.stderr
    assert "confidence vs J, Spearman rank correlation: 1.0000 over" in done.stdout
    confidence, j = read_pairs(predictions / "confidence-j.csv")  # what `publish --calibrate` fits to
    np.testing.assert_allclose(confidence, j, atol=1e-6)
    with (predictions / "confidence-j.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["sequence", "frame", "object", "confidence", "j"]
    assert {row["sequence"] for row in rows} == set(SEQUENCES) and {row["object"] for row in rows} == {"1"}
    assert all((root / "Annotations" / row["sequence"] / f"{row['frame']}.png").is_file() for row in rows)
    counted = int(done.stdout.split(" over ")[1].split()[0])
    assert len(j) == counted > 0


def test_a_broken_confidence_table_is_a_clear_error(davis):
    root, predictions = davis
    _write_confidence(predictions, root, rank_by_j=False)
    done = _eval(root, predictions)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and "not a confidence table" in done.stderr


QUARTER = FIXTURES / "davis-quarter"


def test_without_predictions_it_propagates_with_the_shipped_network_and_scores_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "engine", "eval", "--gt", str(QUARTER), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    names = {"blackswan", "car-shadow", "motocross-jump", "scooter-black", "overall"}
    rows = {words[0]: words[1:] for words in map(str.split, done.stdout.splitlines()) if words and words[0] in names}
    assert set(rows) == names
    assert 0 < float(rows["overall"][0]) <= 1
    assert "confidence vs J, Spearman rank correlation:" in done.stdout
    run = json.loads((tmp_path / "blackswan" / "run.json").read_text())
    assert run["model"] == "lite0"
    assert run["settings"]["max_size"] == 320  # the size the shipped network was published with


def test_without_predictions_an_output_folder_is_required(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "engine", "eval", "--gt", str(QUARTER)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert "--out is required without --pred" in done.stderr
