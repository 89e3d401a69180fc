"""Learning the shot: fine-tune a copy of the network on the shot's keyframes before it propagates.

The masks the artist drew are the best examples of this shot's objects the network will ever get (one-shot
fine-tuning, as OSVOS and the online adaptation of later memory networks do). Each step draws clips from the
keyframes as the static-image training does (`still_clip`: a keyframe, then warped, jittered copies of it as the
frames that follow, one crop for the clip) and moves only the parameters `LEARNABLE_PARTS` names (the choice,
measured, is in docs/decisions.md). The base network is never changed: a copy learns, and the base is what
propagates when the loss stops being finite or the run is stopped.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.choices import ADAPT_STEPS, LEARNABLE_PARTS
from engine.compute.precision import Precision, autocast, lay_out_weights, memory_format
from engine.learning.clip import Clip
from engine.learning.forward import clip_loss, to_tensors
from engine.learning.still_clips import still_clip
from engine.model.afburr import AFBURR
from engine.model.padding import STRIDE
from engine.model.readout import ReadOptions

MAX_OBJECTS = 255  # every object of the keyframe: the copy learns the whole shot
CROP_TRIES = 20


@dataclass(frozen=True)
class AdaptOptions:
    steps: int = ADAPT_STEPS
    clips_per_step: int = 2
    lr: float = 1e-4
    frames: int = 3  # a keyframe and two warped copies, as training's clips
    parts: str = "decoder"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.clips_per_step < 1 or self.frames < 2:
            raise ValueError("adaptation needs at least one step of at least one clip of two frames or more")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"the adaptation's learning rate must be a positive number, got {self.lr}")
        if self.parts not in LEARNABLE_PARTS:
            raise ValueError(f"parts must be one of {', '.join(LEARNABLE_PARTS)}, got {self.parts!r}")


@dataclass(frozen=True)
class AdaptProgress:
    step: int
    steps: int
    loss: float
    seconds: float

    @property
    def seconds_left(self) -> float:
        """At the pace so far (progress is reported after a step, so `step` is at least 1)."""
        return self.seconds / self.step * (self.steps - self.step)


@dataclass(frozen=True)
class Adaptation:
    """The network to propagate with: the adapted copy, or the base one with the reason it fell back."""

    model: AFBURR
    steps: int  # steps taken
    first_loss: float
    last_loss: float
    seconds: float
    fallback: str | None = None  # why `model` is the base network

    @property
    def adapted(self) -> bool:
        return self.fallback is None


@dataclass(frozen=True)
class Learned:
    """A network adapted to a shot, with the fingerprint of the keyframes it learnt (`keyframes_fingerprint`)."""

    model: AFBURR
    keyframes: str


def keyframes_fingerprint(keyframes: Mapping[int, np.ndarray], object_ids: Sequence[int]) -> str:
    """A digest of the keyframes (frames, masks) and the shot's objects: equal digests, nothing new to learn."""
    digest = hashlib.sha256(repr(tuple(object_ids)).encode())
    for index in sorted(keyframes):
        labels = np.ascontiguousarray(keyframes[index])
        digest.update(f"{index}:{labels.shape}:{labels.dtype}".encode())
        digest.update(labels.tobytes())
    return digest.hexdigest()


def adaptation_steps(
    model: AFBURR,
    keyframes: Sequence[tuple[np.ndarray, np.ndarray]],
    options: AdaptOptions,
    precision: Precision = "fp32",
) -> Generator[AdaptProgress, None, Adaptation]:
    """Fine-tune a copy of `model` on `keyframes`, (image (H, W, 3) uint8 RGB, labels (H, W) uint8) pairs at the
    size the network will run at, objects labelled with their ids; frames without an object are skipped.

    Yields after every step, so that the caller can report it and stop between steps (the copy is then simply
    dropped), and returns the adapted copy, or the base network with the reason when the loss is not finite.
    """
    examples = [(image, labels) for image, labels in keyframes if labels.any()]
    if not examples:
        raise ValueError("adaptation needs a keyframe with a mask: every keyframe given is empty")
    height, width = examples[0][1].shape
    size = (height // STRIDE * STRIDE, width // STRIDE * STRIDE)  # crops the network takes without padding
    if min(size) < STRIDE:
        raise ValueError(f"keyframes of {width} x {height} are too small to learn from: at least 16 x 16 pixels")
    learner = _learner(model, options.parts)
    device = next(learner.parameters()).device
    layout = memory_format(precision, learner.config.reference_layout)
    lay_out_weights(learner, layout)
    optimizer = torch.optim.AdamW([p for p in learner.parameters() if p.requires_grad], lr=options.lr)
    rng = np.random.default_rng(options.seed)
    start, losses = time.monotonic(), []
    for step in range(1, options.steps + 1):
        loss = _step(learner, examples, size, options, rng, device, layout, precision)
        if not math.isfinite(loss):
            first, last = (losses[0], losses[-1]) if losses else (math.nan, math.nan)
            reason = f"the adaptation's loss was not finite at step {step}"
            return Adaptation(model, len(losses), first, last, time.monotonic() - start, reason)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss)
        yield AdaptProgress(step, options.steps, loss, time.monotonic() - start)
    learner.eval().requires_grad_(False)
    return Adaptation(learner, len(losses), losses[0], losses[-1], time.monotonic() - start)


def _learner(model: AFBURR, parts: str) -> AFBURR:
    """A trainable copy of `model` in which only the modules `LEARNABLE_PARTS[parts]` names take gradients.
    Where neither encoder learns, the copy is made of the network's inference form: the frozen encoders then
    run without their batch norms, which took a fifteenth of every step."""
    frozen = not {"encoder_q", "encoder_m"} & set(LEARNABLE_PARTS[parts])
    return learn_only(copy.deepcopy(model.for_inference() if frozen else model).train(), parts)


def learn_only(model: AFBURR, parts: str) -> AFBURR:
    """`model`, in place, with gradients for the modules `LEARNABLE_PARTS[parts]` names and for nothing else."""
    model.requires_grad_(False)
    for name in LEARNABLE_PARTS[parts]:
        getattr(model, name).requires_grad_(True)
    return model


def _step(
    learner: AFBURR,
    examples: Sequence[tuple[np.ndarray, np.ndarray]],
    size: tuple[int, int],
    options: AdaptOptions,
    rng: np.random.Generator,
    device: torch.device,
    layout: torch.memory_format,
    precision: Precision,
) -> float:
    """One step's gradients summed over its clips; returns their mean loss (NaN if any clip's is not finite)."""
    total = 0.0
    for _ in range(options.clips_per_step):
        clip = _keyframe_clip(examples, size, options.frames, rng)
        if clip is None:
            continue
        tensors = to_tensors(clip.frames, clip.labels).to(device, layout)
        with autocast(device, precision):
            loss = clip_loss(learner, tensors, ReadOptions()).total
        if not torch.isfinite(loss):
            return math.nan
        (loss / options.clips_per_step).backward()
        total += float(loss.detach())
    return total / options.clips_per_step


def _keyframe_clip(
    examples: Sequence[tuple[np.ndarray, np.ndarray]], size: tuple[int, int], frames: int, rng: np.random.Generator
) -> Clip | None:
    """A clip of `size` from a random keyframe at its own scale (the one the shot runs at), unmirrored: a shot's
    objects do not turn into their mirror images. Drawn again while the crop leaves frame 0 without an object
    (None if it always does: an object too small to survive a crop)."""
    image, labels = examples[int(rng.integers(len(examples)))]
    aspect = size[1] / size[0]
    for _ in range(CROP_TRIES):
        clip_frames, clip_labels = still_clip(
            image, labels, frames, size, MAX_OBJECTS, rng, (0.95 * aspect, 1.05 * aspect), 0.0
        )
        if clip_labels[0].any():
            return Clip(clip_frames, clip_labels)
    return None
