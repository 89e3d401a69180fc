"""Evaluating against DAVIS-format ground truth: finding sequences, reading masks, scoring folders.

A DAVIS folder holds `Annotations/<sequence>/*.png` and `JPEGImages/<sequence>/*.jpg`, either directly or
under a resolution folder (`Annotations/480p/...`, as the official release ships). Predictions are a folder
per sequence of label-map PNGs with the same file names, directly (`PRED/<sequence>/00012.png`, the DAVIS
results layout) or as our propagate writes them (`PRED/<sequence>/labels/00012.png`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.evaluation.metrics import MEASURES, STATISTICS, evaluate_sequence, summarise
from engine.io import InputError, write_text_atomic
from engine.io.images import read_file_bytes
from engine.io.masks import decode_mask

PerSequence = dict[str, dict[int, dict[str, float]]]
STAT_KEYS = [f"{measure}_{name}" for measure in MEASURES for name in STATISTICS]


def dataset_folder(root: Path, kind: str) -> Path:
    """`root/kind`, or `root/kind/480p` when the release keeps its resolutions apart."""
    folder = Path(root) / kind
    if (folder / "480p").is_dir():
        folder = folder / "480p"
    if not folder.is_dir():
        raise InputError(f"{root} is not a DAVIS folder: it has no {kind}/ folder", root)
    return folder


def sequences(root: Path, only: Sequence[str] | None = None) -> list[str]:
    """The sequences with annotations, sorted; `only` picks some (each must exist)."""
    annotations = dataset_folder(root, "Annotations")
    found = sorted(p.name for p in annotations.iterdir() if p.is_dir() and not p.name.startswith("."))
    if only:
        missing = sorted(set(only) - set(found))
        if missing:
            raise InputError(f"sequences {', '.join(missing)} are not in {annotations}", annotations)
        return [name for name in found if name in only]
    if not found:
        raise InputError(f"{annotations} holds no sequences", annotations)
    return found


def read_labels(path: Path) -> np.ndarray:
    """A ground-truth or predicted mask as a label map (an empty one is fine: the object may be absent)."""
    return decode_mask(read_file_bytes(path, "mask"), path)


def evaluate_folders(gt_root: Path, pred_root: Path, names: Sequence[str]) -> PerSequence:
    """J and F of every object of every sequence, predictions read from `pred_root`."""
    results: PerSequence = {}
    for name in names:
        _, preds, gts = read_sequence(gt_root, pred_root, name)
        results[name] = evaluate_sequence(preds, gts)
    return results


def read_sequence(
    gt_root: Path, pred_root: Path, name: str
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """A sequence's frame names (file stems), predicted and ground-truth label maps, frame by frame; every
    annotated frame needs its prediction."""
    gt_files = sorted((dataset_folder(gt_root, "Annotations") / name).glob("*.png"))
    pred_folder = _prediction_folder(Path(pred_root), name)
    preds = []
    for gt_file in gt_files:
        pred_file = pred_folder / gt_file.name
        if not pred_file.is_file():
            raise InputError(f"no prediction {pred_file} for ground truth {gt_file}", pred_file)
        preds.append(read_labels(pred_file))
    return [f.stem for f in gt_files], preds, [read_labels(f) for f in gt_files]


def write_tables(results: PerSequence, folder: Path) -> tuple[Path, Path]:
    """`per-sequence.csv` (one row per object) and `overall.csv` (J&F and every statistic)."""
    per_sequence = _csv(
        ["sequence", "object", *STAT_KEYS],
        [
            [name, obj, *(f"{stats[k]:.9f}" for k in STAT_KEYS)]
            for name, objects in results.items()
            for obj, stats in objects.items()
        ],
    )
    overall = summarise(results)
    keys = ["JF_mean", *STAT_KEYS]
    folder.mkdir(parents=True, exist_ok=True)
    return (
        write_text_atomic(folder / "per-sequence.csv", per_sequence),
        write_text_atomic(folder / "overall.csv", _csv(keys, [[f"{overall[k]:.9f}" for k in keys]])),
    )


def _prediction_folder(pred_root: Path, name: str) -> Path:
    for folder in (pred_root / name / "labels", pred_root / name):
        if folder.is_dir():
            return folder
    raise InputError(f"no predictions for sequence {name} in {pred_root}", pred_root)


def _csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
