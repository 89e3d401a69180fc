"""Clips as a PyTorch dataset whose item `i` is a pure function of (seed, i).

Each item gets its own generator seeded with `(seed, i)`, so which clip step `s` trains on does not depend
on how many steps ran before, on the number of dataloader workers, or on a restart: resuming at step `s`
is just starting the sample indices at `s * clips_per_step`. Hide-and-Seek's probability ramps with the
step the item belongs to, so it too is reproduced on resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

from engine.learning.augment import hide_and_seek, perturb_mask
from engine.learning.clip import Clip, ClipSource
from engine.learning.forward import ClipTensors, to_tensors


@dataclass(frozen=True)
class HideAndSeek:
    """KMN's schedule: each grid cell of every frame hidden with a probability ramped from 0 to `top`."""

    top: float = 0.5
    ramp_steps: int = 0  # 0: no hiding
    grid: int = 4

    def probability(self, step: int) -> float:
        return 0.0 if self.ramp_steps <= 0 else self.top * min(1.0, step / self.ramp_steps)


class ClipDataset(Dataset):
    """`length` clips drawn from `source`; `clips_per_step` tells which training step item `i` belongs to."""

    def __init__(
        self,
        source: ClipSource,
        length: int,
        seed: int,
        clips_per_step: int = 1,
        hiding: HideAndSeek = HideAndSeek(),
        perturb_previous: bool = False,
    ) -> None:
        self.source, self.length, self.seed = source, length, seed
        self.clips_per_step, self.hiding, self.perturb_previous = clips_per_step, hiding, perturb_previous

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> ClipTensors:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        clip = self.source.sample(rng)
        probability = self.hiding.probability(index // self.clips_per_step)
        frames = np.stack([hide_and_seek(frame, rng, probability, self.hiding.grid) for frame in clip.frames])
        previous = _perturbed_previous(clip, rng) if self.perturb_previous else None
        return to_tensors(frames, clip.labels, previous)


def _perturbed_previous(clip: Clip, rng: np.random.Generator) -> np.ndarray:
    """Row t: frame t-1's labels, perturbed as SKN does (row 0 is frame 0's own, unused)."""
    rows = [clip.labels[0]] + [perturb_mask(labels, rng) for labels in clip.labels[:-1]]
    return np.stack(rows)
