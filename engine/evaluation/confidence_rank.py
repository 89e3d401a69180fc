"""Does the per-frame confidence tell the bad frames? The rank correlation between confidence and J.

The confidence's one job is to put the frames an artist must review first; whether its values are calibrated
matters less than whether it orders frames as their quality does. So `engine eval` reports Spearman's rank
correlation between each object's confidence and its J, over every scored frame of every sequence (the
first and the last frame excluded, as the benchmark excludes them; keyframes carry confidence 1 by definition
and are never scored). It needs the `confidence.csv` that `propagate` writes beside the label maps.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine.evaluation.davis import read_sequence
from engine.evaluation.metrics import region_similarity
from engine.io import InputError
from engine.io.atomic import write_text_atomic

MIN_PAIRS = 3
PAIRS_COLUMNS = ("sequence", "frame", "object", "confidence", "j")


class ScoredFrame(NamedTuple):
    """One object on one scored frame: what its confidence said and what its J was."""

    sequence: str
    frame: str
    object: int
    confidence: float
    j: float


def confidence_table(folder: Path) -> dict[tuple[str, int], float]:
    """`confidence.csv` of one propagated sequence: (frame name, object id) -> confidence."""
    path = folder / "confidence.csv"
    try:
        with path.open(newline="") as file:
            return {(row["name"], int(row["object"])): float(row["confidence"]) for row in csv.DictReader(file)}
    except (KeyError, ValueError, TypeError) as error:
        raise InputError(f"{path}: not a confidence table ({error})", path) from None


def scored_frames(gt_root: Path, pred_root: Path, names: Sequence[str]) -> list[ScoredFrame]:
    """Every object on every scored frame of `names`, with its confidence and its J."""
    scored = []
    for name in names:
        table = confidence_table(Path(pred_root) / name)
        frames, preds, gts = read_sequence(gt_root, pred_root, name)
        objects = sorted(set(np.unique(gts[0]).tolist()) - {0})
        for frame, pred, gt in list(zip(frames, preds, gts, strict=True))[1:-1]:
            for obj in objects:
                if (frame, obj) in table:
                    j = region_similarity(pred == obj, gt == obj)
                    scored.append(ScoredFrame(name, frame, obj, table[frame, obj], float(j)))
    return scored


def write_pairs(path: Path, scored: Sequence[ScoredFrame]) -> Path:
    """The scored frames as a CSV, atomically: named, so that an outlier can be found and looked at (quoted
    where a studio's sequence names hold commas)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(PAIRS_COLUMNS)
    writer.writerows((s.sequence, s.frame, s.object, f"{s.confidence:.6f}", f"{s.j:.6f}") for s in scored)
    return write_text_atomic(path, text.getvalue())


def read_pairs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (confidence, J) columns of what `write_pairs` wrote; `InputError` naming the file for anything else."""
    try:
        with Path(path).open(newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames is None or not {"confidence", "j"} <= set(reader.fieldnames):
                raise ValueError("the first line must name the columns confidence and j")
            array = np.array([[float(row["confidence"]), float(row["j"])] for row in reader], np.float64)
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})", path) from None
    except (ValueError, TypeError) as error:
        raise InputError(f"{path}: not a table of confidence and J written by `engine eval` ({error})", path) from None
    array = array.reshape(-1, 2)
    return array[:, 0], array[:, 1]


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (tied values share their mean rank); None when it is undefined (fewer
    than three pairs, or one side constant)."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} values against {len(y)}")
    if len(x) < MIN_PAIRS:
        return None
    rx, ry = _ranks(np.asarray(x, np.float64)), _ranks(np.asarray(y, np.float64))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    _, tie_group = np.unique(values, return_inverse=True)
    return (np.bincount(tie_group, ranks) / np.bincount(tie_group))[tie_group]
