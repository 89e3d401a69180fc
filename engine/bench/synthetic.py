"""A deterministic synthetic clip: a panning textured background with sensor noise, and elliptic objects
moving along smooth paths. The pan and the noise keep the features changing, so the bank keeps growing
until its budget makes it evict, as it does on real footage.

Benchmarks need frames of any size and length without reading files (which would time the disk) and without
holding a long clip in memory (which would hide the engine's own memory behaviour), so frames are drawn on
demand from a frame index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

NOISE = 0.02  # standard deviation of the per-frame pixel noise


class SyntheticClip(Sequence[torch.Tensor]):
    """`length` frames (3, H, W) in [0, 1]; `first_mask` (objects + 1, H, W) one-hot, background first."""

    def __init__(self, height: int, width: int, objects: int, length: int, seed: int = 0) -> None:
        if objects < 1 or length < 2 or height < 16 or width < 16:
            raise ValueError("a synthetic clip needs at least one object, two frames and 16 x 16 pixels")
        self.height, self.width, self.objects, self.length = height, width, objects, length
        self._seed = seed
        generator = torch.Generator().manual_seed(seed)
        coarse = torch.rand(1, 3, max(2, height // 16), max(2, width // 16), generator=generator)
        self._background = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
        self._colours = torch.rand(objects, 3, 1, 1, generator=generator)
        self._phases = torch.rand(objects, 2, generator=generator) * 2 * math.pi
        ys = torch.arange(height, dtype=torch.float32).view(height, 1)
        xs = torch.arange(width, dtype=torch.float32).view(1, width)
        self._grid = (ys, xs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:  # type: ignore[override]  # no slices needed
        if not -self.length <= index < self.length:
            raise IndexError(index)
        index %= self.length
        frame = torch.roll(self._background, shifts=(index // 3, 2 * index), dims=(1, 2))
        noise = torch.Generator().manual_seed(self._seed * 1_000_003 + index)
        frame = (frame + NOISE * torch.randn(frame.shape, generator=noise)).clamp(0, 1)
        for obj, inside in enumerate(self._objects_at(index)):
            frame = torch.where(inside, self._colours[obj], frame)
        return frame

    @property
    def first_mask(self) -> torch.Tensor:
        labels = torch.zeros(self.height, self.width, dtype=torch.int64)
        for obj, inside in enumerate(self._objects_at(0)):
            labels[inside] = obj + 1
        return F.one_hot(labels, self.objects + 1).permute(2, 0, 1).float()

    def _objects_at(self, index: int) -> list[torch.Tensor]:
        """Boolean masks of the objects in frame `index`; later objects are drawn over earlier ones."""
        ys, xs = self._grid
        radius_y, radius_x = self.height / 8, self.width / 10
        masks = []
        for obj in range(self.objects):
            phase_y, phase_x = self._phases[obj].tolist()
            cy = self.height * (0.5 + 0.3 * math.sin(index / 40 + phase_y))
            cx = self.width * (0.5 + 0.35 * math.sin(index / 55 + phase_x))
            masks.append(((ys - cy) / radius_y) ** 2 + ((xs - cx) / radius_x) ** 2 <= 1)
        return masks


def as_images(clip: SyntheticClip) -> tuple[list[np.ndarray], np.ndarray]:
    """The clip's frames as H x W x 3 uint8 RGB images, and frame 0's label map: what a client sends or names."""
    frames = [(clip[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for i in range(len(clip))]
    return frames, clip.first_mask.argmax(dim=0).numpy().astype(np.uint8)


def write_png_frames(frames: Sequence[np.ndarray], folder: Path) -> Path:
    """RGB frames as `00000.png`, `00001.png`, ... in a new `folder`, for a server that reads frame files."""
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:05d}.png"), frame[:, :, ::-1])
    return folder
