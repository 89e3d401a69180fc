"""Training checkpoints: a model checkpoint any command can load, plus what resuming needs.

Besides the weights (in the reference's layout, with the model configuration) a training checkpoint holds
the optimiser, the learning-rate schedule, the step, the run's options and the torch generators' states.
The data needs no state of its own: clip `i` is drawn from a generator seeded with `(seed, i)`.
`last.pth` is rewritten at every save; `step_NNNNNNN.pth` files are kept for the last `keep` saves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.io import InputError
from engine.io.atomic import write_bytes_atomic
from engine.model.afburr import AFBURR
from engine.model.weights import checkpoint_bytes, model_checkpoint, read_checkpoint

LAST = "last.pth"
CHECKPOINTS = "checkpoints"


def save_training(
    run: Path,
    model: AFBURR,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    options: dict[str, Any],
    loss: float,
    keep: int,
) -> Path:
    """Write the state after `step` steps as `step_N.pth` and `last.pth`; keep the newest `keep` step files."""
    folder = run / CHECKPOINTS
    training = {
        "step": step,
        "options": options,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    extra = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "training": training}
    provenance = {"trained_by": "python -m engine train", "steps": step, "data": options["data"]}
    data = checkpoint_bytes(model_checkpoint(model, provenance, step, loss, options["seed"], extra))
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"step_{step:07d}.pth", LAST):  # serialised once, written twice
        write_bytes_atomic(folder / name, data)
    kept = sorted(folder.glob("step_*.pth"))
    for old in kept[: max(len(kept) - keep, 0)]:
        old.unlink()
    return folder / LAST


def last_checkpoint(run: Path) -> Path:
    """The checkpoint `--resume` continues from; a clear error when the folder holds none."""
    path = run / CHECKPOINTS / LAST
    if not path.is_file():
        raise InputError(f"{run} holds no {CHECKPOINTS}/{LAST} to resume from", path)
    return path


def read_training(path: Path) -> dict[str, Any]:
    """The whole training checkpoint; an error when it was not written by training (no optimiser state)."""
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or "training" not in checkpoint:
        raise ValueError(f"{path} is a model checkpoint without training state; give it as --init to fine-tune")
    return checkpoint


def restore_generators(training: dict[str, Any]) -> None:
    torch.set_rng_state(training["torch_rng"])
    if training["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(training["cuda_rng"])
