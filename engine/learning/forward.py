"""One clip through the network as training sees it, in the reference's mode or the recurrent one.

Reference mode (`train.py`): frame 0 is memorised with its ground truth and every later frame is segmented,
as one batch, against that memory alone. Recurrent mode trains what inference does: frames are segmented
in order, and each is memorised with its own predicted soft masks (detached: the prediction is an input to
the memory, as at inference) before the next one is read. The bank is appended to and never merged or
evicted: a training clip holds a few frames, far below any bank budget.

With the spatial (SKN) reader each frame also needs the previous frame's mask: the ground truth, perturbed
by the data pipeline, in reference mode; the previous prediction in recurrent mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from engine.learning.objective import Loss, mean_loss, segmentation_loss
from engine.model.afburr import AFBURR, Segmentation
from engine.model.readout import MemoryView, ReadOptions


@dataclass(frozen=True)
class ClipTensors:
    """A clip ready for the network: the same clip the data source drew, as tensors on the device."""

    frames: torch.Tensor  # (T, 3, H, W) float in [0, 1]
    labels: torch.Tensor  # (T, H, W) int64, 0 background, 1..K objects
    previous: torch.Tensor | None  # (T, H, W) int64: frame t's perturbed previous mask (SKN reader only)

    @property
    def object_count(self) -> int:
        """Objects including the background."""
        return int(self.labels.max()) + 1

    def to(self, device: torch.device, layout: torch.memory_format = torch.contiguous_format) -> ClipTensors:
        """On `device`, frames in the `layout` the network's precision wants
        (`engine.compute.precision.memory_format`)."""
        previous = None if self.previous is None else self.previous.to(device)
        frames = self.frames.to(device).contiguous(memory_format=layout)
        return ClipTensors(frames, self.labels.to(device), previous)


def to_tensors(frames: np.ndarray, labels: np.ndarray, previous: np.ndarray | None = None) -> ClipTensors:
    """uint8 (T, H, W, 3) frames and (T, H, W) labels -> the network's float frames and int64 labels."""
    as_frames = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)
    as_labels = torch.from_numpy(labels.astype(np.int64))
    return ClipTensors(as_frames, as_labels, None if previous is None else torch.from_numpy(previous.astype(np.int64)))


def clip_loss(
    model: AFBURR, clip: ClipTensors, read: ReadOptions, recurrent: bool = False, weight: float = 0.5
) -> Loss:
    """The loss of segmenting frames 1..T-1 of `clip`, averaged over frames."""
    obj_n = clip.object_count
    keys, values = model.encode_memory(clip.frames[:1], _one_hot(clip.labels[0], obj_n))
    if not recurrent and read.reader != "skn":
        segmentation = _segment(model, clip.frames[1:], MemoryView(keys, values, None), read, None)
        return segmentation_loss(segmentation.logits, clip.labels[1:], weight)
    losses, previous = [], _one_hot(clip.labels[0], obj_n)
    for t in range(1, clip.frames.shape[0]):
        if not recurrent:
            previous = _one_hot(clip.labels[t - 1] if clip.previous is None else clip.previous[t], obj_n)
        segmentation = _segment(model, clip.frames[t : t + 1], MemoryView(keys, values, None), read, previous)
        losses.append(segmentation_loss(segmentation.logits, clip.labels[t : t + 1], weight))
        if recurrent:
            previous = torch.softmax(segmentation.logits[0].detach(), dim=0)
            new_keys, new_values = model.encode_memory(clip.frames[t : t + 1], previous)
            keys, values = torch.cat([keys, new_keys], dim=2), torch.cat([values, new_values], dim=2)
    return mean_loss(losses)


def _segment(
    model: AFBURR,
    frames: torch.Tensor,
    memory: MemoryView,
    read: ReadOptions,
    previous: torch.Tensor | None,
) -> Segmentation:
    query = model.encode_query(frames)
    readout = model.read(query, memory, read, previous_probs=previous)
    return model.decode(readout.features, query)


def _one_hot(labels: torch.Tensor, obj_n: int) -> torch.Tensor:
    """(H, W) labels -> (O, H, W) float masks, background first."""
    return F.one_hot(labels, obj_n).permute(2, 0, 1).float()
