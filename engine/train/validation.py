"""Validation during training: the loss on held-out clips, and J&F on a DAVIS folder as `eval` scores it.

The held-out clips come from the training sources with a seed training never uses, and are the same clips at
every validation, so the validation loss is comparable across steps (for procedural data they are also clips
the network never saw; for a DAVIS folder they are other clips of the same videos). J&F runs the shot
propagator on every sequence of `--val-davis` from its first annotation, exactly as `eval --checkpoint`
would on the saved checkpoint.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, TextIO

import torch

from engine.evaluation.benchmark import score
from engine.evaluation.davis import write_tables
from engine.evaluation.metrics import summarise
from engine.learning.clip import ClipSource
from engine.learning.forward import clip_loss
from engine.model.afburr import AFBURR
from engine.model.readout import ReadOptions
from engine.propagation.propagator import Settings
from engine.train.dataset import ClipDataset
from engine.train.log import CsvLog
from engine.train.options import TrainOptions

HELD_OUT_SEED = 7_919_000_000  # added to the run's seed: clip i of validation is never clip i of training
COLUMNS = ("step", "val_loss", "val_cross_entropy", "val_uncertainty", "JF", "J", "F")


class Validation:
    def __init__(self, options: TrainOptions, source: ClipSource, device: torch.device) -> None:
        self.options, self.device = options, device
        self.clips = ClipDataset(source, options.val_clips, options.seed + HELD_OUT_SEED)
        self.log: CsvLog | None = None

    def open_log(self, resume_after: int | None) -> None:
        self.log = CsvLog(self.options.out / "validation.csv", COLUMNS, resume_after)

    def run(self, model: AFBURR, step: int, stream: TextIO) -> dict[str, Any]:
        """Score `model` after `step` steps; logs and prints the row, and leaves the model in training mode."""
        model.eval()
        try:
            row = {"step": step, **self._held_out_loss(model)}
            if self.options.val_davis is not None:
                row |= self._davis(model, step)
        finally:
            model.train()
        if self.log is not None:
            self.log.write(row)
        scores = " ".join(f"{key} {value:.4f}" for key, value in row.items() if key != "step")
        print(f"validation at step {step}: {scores}", file=stream, flush=True)
        return row

    def _held_out_loss(self, model: AFBURR) -> dict[str, float]:
        if not len(self.clips):
            return {}
        read, options = ReadOptions(reader=self.options.reader), self.options
        totals = torch.zeros(3)
        with torch.no_grad():
            for index in range(len(self.clips)):
                loss = clip_loss(model, self.clips[index].to(self.device), read, options.recurrent,
                                 options.uncertainty_weight)
                totals += torch.stack([value.float().cpu() for value in loss])
        mean = [round(value, 6) for value in (totals / len(self.clips)).tolist()]
        return {"val_loss": mean[0], "val_cross_entropy": mean[1], "val_uncertainty": mean[2]}

    def _davis(self, model: AFBURR, step: int) -> dict[str, float]:
        settings = Settings(max_size=self.options.val_max_size, read=ReadOptions(reader=self.options.reader))
        with tempfile.TemporaryDirectory(prefix="maskprop-val-") as scratch:
            results = score(model, self.options.val_davis, Path(scratch), settings)
        write_tables(results, _folder(self.options.out / "validation" / f"step_{step:07d}"))
        overall = summarise(results)
        return {key: round(overall[f"{key}_mean"], 6) for key in ("JF", "J", "F")}


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
