"""The key/value head shared by memory and query features: one set of weights, so keys are comparable."""

from __future__ import annotations

import torch
from torch import nn


class KeyValue(nn.Module):
    def __init__(self, in_dim: int, key_dim: int, value_dim: int) -> None:
        super().__init__()
        self.Key = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        self.Value = nn.Conv2d(in_dim, value_dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,C,h,w) -> keys (B,key_dim,h*w) and values (B,value_dim,h*w), the layout the feature bank stores."""
        return self.Key(x).flatten(2), self.Value(x).flatten(2)
