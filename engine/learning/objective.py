"""The reference's training loss: cross-entropy over objects plus half the RMS of the uncertainty map.

The uncertainty term (L_U) pushes the network to let one object clearly win at every pixel; it is computed,
as the reference computes it, from a softmax over objects of the final foreground probabilities (not of the
log-odds), the same odd-looking double normalisation the URR module uses.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F

from engine.model.uncertainty import uncertainty

UNCERTAINTY_WEIGHT = 0.5  # the reference's --lu


class Loss(NamedTuple):
    total: torch.Tensor  # what is back-propagated
    cross_entropy: torch.Tensor
    uncertainty: torch.Tensor  # L_U, the RMS of the uncertainty map


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, weight: float = UNCERTAINTY_WEIGHT) -> Loss:
    """`logits` (B, O, H, W) per-object log-odds (background is object 0), `target` (B, H, W) int64 labels."""
    cross_entropy = F.cross_entropy(logits, target)
    probs = torch.sigmoid(logits)  # the decoder's clamped probabilities back
    u = uncertainty(F.softmax(probs, dim=1))
    rms = u.flatten(1).pow(2).mean(dim=1).sqrt().mean()
    return Loss(cross_entropy + weight * rms, cross_entropy, rms)


def mean_loss(parts: list[Loss]) -> Loss:
    """The average of per-frame losses, each frame weighted alike."""
    return Loss(*(torch.stack(values).mean() for values in zip(*parts, strict=True)))
