"""The URR uncertainty: how close the strongest object is to the runner-up, per pixel."""

from __future__ import annotations

import torch


def uncertainty(probs: torch.Tensor) -> torch.Tensor:
    """`exp(1 - top1/top2)` over dim 1 of (B, objects, H, W) -> (B, 1, H, W), in (0, 1].

    It is 1 where two objects tie and falls towards 0 where one clearly wins. The 1e-8 keeps the reference's
    value where the runner-up probability underflows to zero.
    """
    top = probs.topk(k=2, dim=1).values
    return torch.exp(1 - top[:, 0] / (top[:, 1] + 1e-8)).unsqueeze(1)
