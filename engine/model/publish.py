"""Turning a training checkpoint into a network to ship: weights only, in half precision, with its size.

A training checkpoint carries the optimiser's state (twice the weights again) and fp32 weights; a shipped
network needs neither. Weights are stored as fp16, which halves the file (about three significant digits kept
per weight), and are widened back to fp32 when loaded, so inference computes
exactly as it would from the fp32 file rounded to fp16. The file also records the internal size the network
is run at by default (`maskprop.inference.max_size`): the scale it was trained at, where it is at its best; and,
where asked, how its raw confidence maps to an estimate of J (`engine.model.calibration`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from engine.errors import CheckpointError
from engine.model.afburr import AFBURR
from engine.model.calibration import ConfidenceCalibration
from engine.model.weights import (
    check_file_fits,
    model_config_of,
    read_checkpoint,
    save_checkpoint,
    state_dict_of,
    stored_entry,
)


def publish(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    max_size: int,
    memory_every: int = 1,
    note: str = "",
    calibration: ConfidenceCalibration | None = None,
) -> Path:
    """Write the network of the checkpoint `source` to `out`, fp16, run at `max_size` and memorising every
    `memory_every`-th frame unless asked otherwise, reporting its confidence through `calibration` if given."""
    if max_size < 0:
        raise ValueError(f"max_size must be 0 (the plate's size) or positive, got {max_size}")
    if memory_every < 1:
        raise ValueError(f"memory_every must be 1 or more, got {memory_every}")
    checkpoint = read_checkpoint(source)
    whole = checkpoint if isinstance(checkpoint, Mapping) else {}
    config = model_config_of(checkpoint, source)
    state = state_dict_of(checkpoint, source)
    check_file_fits(AFBURR(config), state, source)
    stored = stored_entry(checkpoint, "provenance")
    provenance = {**(stored if isinstance(stored, Mapping) else {}), "published_from": Path(source).name}
    if note:
        provenance["note"] = note
    inference: dict[str, object] = {"max_size": max_size, "memory_every": memory_every}
    if calibration is not None:
        inference["confidence_calibration"] = calibration.to_dict()
    return save_checkpoint(
        {
            "epoch": whole.get("epoch", 0),
            "model": {key: _half(key, value, source) for key, value in state.items()},
            "loss": whole.get("loss", 0.0),
            "seed": whole.get("seed", 0),
            "maskprop": {"model": config.to_dict(), "provenance": provenance, "inference": inference},
        },
        out,
    )


def _half(key: str, value: torch.Tensor, source: str | os.PathLike[str]) -> torch.Tensor:
    """Floating-point tensors as fp16 (integer ones, such as batch-norm counters, as they are)."""
    if not value.is_floating_point():
        return value
    half = value.detach().cpu().to(torch.float16)
    if not torch.isfinite(half).all():
        raise CheckpointError(f"{source}: {key} holds values that fp16 cannot store (beyond 65504, or not finite)")
    return half
