"""Zero padding to a multiple of the network stride, split as the reference splits it (extra pixel after)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

STRIDE = 16


@dataclass(frozen=True)
class Padding:
    """Pixels added on each side of a frame; `crop` removes them again."""

    left: int
    right: int
    top: int
    bottom: int

    @classmethod
    def for_size(cls, height: int, width: int, multiple: int = STRIDE) -> Padding:
        extra_h, extra_w = -height % multiple, -width % multiple
        return cls(extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the last two dimensions."""
        return F.pad(x, (self.left, self.right, self.top, self.bottom))

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """Undo `pad` on the last two dimensions."""
        height, width = x.shape[-2:]
        return x[..., self.top : height - self.bottom, self.left : width - self.right]
