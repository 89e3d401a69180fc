"""Deterministic AFB-URR weights that need no download.

The reference implementation was run with exactly these weights to produce the parity fixtures, so they let
the parity test, the CLI and server tests and the benchmarks build a complete network on any machine. The
values come from a counter-based generator (splitmix64 keyed by the CRC-32 of the state-dict key), which makes
every tensor independent of the order and the number of the others.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from engine.model import AFBURR

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def uniform(key: str, n: int) -> np.ndarray:
    """`n` float64 values in [-1, 1) for `key`, from splitmix64 over the counter `(crc32(key) << 32) + i`."""
    seed = np.uint64(zlib.crc32(key.encode("utf-8")))
    x = (seed << np.uint64(32)) + np.arange(n, dtype=np.uint64) + _GOLDEN_GAMMA
    z = (x ^ (x >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return 2.0 * ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53) - 1.0


def parity_tensor(key: str, shape: Sequence[int]) -> torch.Tensor:
    """The parity value of one state-dict entry; the first matching rule of the parity specification wins."""
    shape = tuple(shape)
    n = math.prod(shape)
    if key.endswith(".mean") and len(shape) == 4:
        return torch.tensor(_IMAGENET_MEAN, dtype=torch.float32).reshape(shape)
    if key.endswith(".std") and len(shape) == 4:
        return torch.tensor(_IMAGENET_STD, dtype=torch.float32).reshape(shape)
    if key.endswith(".num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if key.endswith(".running_mean"):
        return torch.zeros(shape, dtype=torch.float32)
    if key.endswith(".running_var"):
        return torch.ones(shape, dtype=torch.float32)
    if len(shape) == 4:
        values = uniform(key, n) * math.sqrt(3) * math.sqrt(2 / (shape[1] * shape[2] * shape[3]))
    elif len(shape) == 1 and key.endswith(".weight"):
        values = np.full(n, 0.25 if ".bn3." in key else 1.0)
    elif len(shape) == 1 and key.endswith(".bias"):
        values = 0.02 * uniform(key, n)
    else:
        raise ValueError(f"no parity rule covers {key} with shape {shape}")
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def parity_state_dict(shapes: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """Parity values for every key of `shapes` (for example `{k: v.shape for k, v in model.state_dict()}`)."""
    return {key: parity_tensor(key, shape) for key, shape in shapes.items()}


def load_parity_weights(model: torch.nn.Module) -> torch.nn.Module:
    """Fill `model` with the parity weights (strictly: every key is covered) and return it."""
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    model.load_state_dict(parity_state_dict(shapes), strict=True)
    return model


def save_parity_checkpoint(path: Path) -> Path:
    """The parity network as a checkpoint file, for a server started as a child process (benchmarks)."""
    torch.save({"model": load_parity_weights(AFBURR()).state_dict()}, path)
    return path
