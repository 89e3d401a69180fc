"""The key/value head shared by memory and query features: one set of weights, so keys are comparable."""

from __future__ import annotations

import torch
from torch import nn

KEY_DIM = 128
VALUE_DIM = 512


class KeyValue(nn.Module):
    def __init__(self, in_dim: int = 1024, key_dim: int = KEY_DIM, value_dim: int = VALUE_DIM) -> None:
        super().__init__()
        self.Key = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        self.Value = nn.Conv2d(in_dim, value_dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,1024,h,w) -> keys (B,128,h*w) and values (B,512,h*w), the layout the feature bank stores."""
        return self.Key(x).flatten(2), self.Value(x).flatten(2)
