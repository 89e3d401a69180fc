"""The semi-supervised benchmark: propagate each sequence from its first annotation, then score J and F.

`eval --checkpoint` runs it on a loaded checkpoint and training's validation on the network being trained, so
the number a training log reports is the number `eval` would print for the saved checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.evaluation import davis
from engine.model.afburr import AFBURR
from engine.propagation.propagator import Settings
from engine.shots.shot import PreparedShot, ShotSpec, prepare_shot, propagate_shot


def prepare_sequences(gt_root: Path, names: Sequence[str], out: Path) -> list[PreparedShot]:
    """Each named sequence as a shot propagated forward from its first annotated frame into `out/<name>/`.

    Preparing checks every input, so a bad sequence fails before a model is loaded or a frame is run.
    """
    frames_root = davis.dataset_folder(gt_root, "JPEGImages")
    annotations = davis.dataset_folder(gt_root, "Annotations")
    shots = []
    for name in names:
        first_mask = min((annotations / name).glob("*.png"))
        spec = ShotSpec(str(frames_root / name), {0: str(first_mask)}, str(out / name), direction="forward", name=name)
        shots.append(prepare_shot(spec))
    return shots


def score(
    model: AFBURR, gt_root: Path, out: Path, settings: Settings, names: Sequence[str] | None = None
) -> davis.PerSequence:
    """J and F per sequence and object of `model` on the DAVIS folder `gt_root`; results are written to `out`."""
    names = davis.sequences(gt_root, names)
    for shot in prepare_sequences(gt_root, names, out):
        propagate_shot(model, shot, settings, show_progress=False)
    return davis.evaluate_folders(gt_root, out, names)
