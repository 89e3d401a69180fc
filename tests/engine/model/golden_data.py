"""Reading the reference's golden cases (tests/fixtures/golden.npz) into the engine's tensor layouts."""

from __future__ import annotations

import numpy as np
import torch

from tests.paths import FIXTURES


def load_golden() -> dict[str, dict[str, np.ndarray]]:
    """`golden.npz` as {case: {name: array}}."""
    cases: dict[str, dict[str, np.ndarray]] = {}
    with np.load(FIXTURES / "golden.npz") as data:
        for key in data.files:
            case, name = key.split("/")
            cases.setdefault(case, {})[name] = data[key]
    return cases


def frames_from_uint8(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 3, H, W) float in [0, 1], as the reference's ToTensor makes them."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float() / 255


def one_hot(labels: np.ndarray) -> torch.Tensor:
    """Label map (H, W) -> (max + 1, H, W) float one-hot, background first."""
    mask = torch.from_numpy(labels.astype(np.int64))
    return torch.stack([(mask == k).float() for k in range(int(mask.max()) + 1)])
