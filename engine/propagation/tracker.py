"""One pass of the network through a shot in one direction, starting from one keyframe.

A `Tracker` drives the model's stages over a `FeatureBank`. `start()` memorises the keyframe with its
mask; each `step()` segments the next frame against the bank, then memorises that frame with its own soft
masks, as the reference does after every frame but the last. Frames and masks are at the internal
resolution; the tracker pads them to the network stride and crops the outputs back.

This is the only implementation of the reference's loop: the propagator, the parity test and the benchmark
all run it (the last two through `engine.propagation.reference_loop`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch.nn import functional as F

from engine.choices import Precision
from engine.compute.device import out_of_memory_as_error
from engine.compute.precision import autocast, lay_out_weights, memory_format
from engine.model.afburr import AFBURR
from engine.model.padding import Padding
from engine.model.readout import ReadOptions
from engine.propagation.bank import FeatureBank

Timer = Callable[[str], contextlib.AbstractContextManager[None]]
STAGES = ("query", "read", "decode", "memorize", "bank_update")


class Step(NamedTuple):
    logits: torch.Tensor  # (O, h, w) per-object log-odds, background first
    probs: torch.Tensor  # (O, h, w) soft masks: softmax of the log-odds over objects
    uncertainty: torch.Tensor  # (h, w) URR uncertainty exp(1 - top1/top2), in (0, 1]
    padded_uncertainty: torch.Tensor  # (1, Hp/2, Wp/2) as the decoder made it, before cropping


def untimed(stage: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


class Tracker:
    """The state of one propagation pass: its bank, the previous masks and the step count."""

    def __init__(
        self,
        model: AFBURR,
        bank: FeatureBank,
        read: ReadOptions | None = None,
        precision: Precision = "fp32",
        timer: Timer = untimed,
        memory_every: int = 1,
    ) -> None:
        """`memory_every` N: memorise every N-th frame after the keyframe (1: every frame, as the reference)."""
        if memory_every < 1:
            raise ValueError(f"memory_every must be 1 or more, got {memory_every}")
        self.layout = memory_format(precision, model.config.reference_layout)
        self.model = lay_out_weights(model.for_inference(), self.layout)
        self.bank = bank
        self.read_options = read or ReadOptions()
        self.precision = precision
        self.timer = timer
        self.memory_every = memory_every
        self.device = next(model.parameters()).device
        self._padding: Padding | None = None
        self._previous: torch.Tensor | None = None
        self._step = 0

    @torch.inference_mode()
    def start(self, frame: torch.Tensor, masks: torch.Tensor) -> None:
        """Memorise the keyframe: `frame` (3, h, w) in [0, 1], `masks` (O, h, w) one-hot, background first."""
        self._padding = Padding.for_size(*frame.shape[-2:])
        masks = masks.to(self.device, torch.float32)
        keys, values = self._memorize(self._pad_frame(frame), masks)
        with self._stage("bank_update"):
            self.bank.initialize(keys, values, step=0, keyframe=True)
        self._previous, self._step = masks, 0

    @torch.inference_mode()
    def step(self, frame: torch.Tensor, memorize: bool = True, memorize_with: torch.Tensor | None = None) -> Step:
        """Segment the next frame and add it to the bank if it is one to memorise (every `memory_every`-th
        frame) and `memorize` is true (false for a pass's last frame).

        `memorize_with` (O, h, w) replaces the frame's own soft masks in memory: a test feeding another
        implementation's masks isolates each frame's computation from rounding that earlier frames amplified.
        """
        if self._padding is None or self._previous is None:
            raise RuntimeError("start() the tracker with a keyframe first")
        padded = self._pad_frame(frame)
        with autocast(self.device, self.precision):
            with self._stage("query"):
                query = self.model.encode_query(padded)
            with self._stage("read"):
                previous = self._padding.pad(self._previous)
                readout = self.model.read(query, self.bank.view(), self.read_options, previous_probs=previous)
                self.bank.add_usage(readout.usage)
            with self._stage("decode"):
                segmentation = self.model.decode(readout.features, query)
        logits = self._padding.crop(segmentation.logits[0]).float()
        probs = torch.softmax(logits, dim=0)
        padded_uncertainty = segmentation.uncertainty[0].float()
        self._step += 1
        remembered = probs if memorize_with is None else memorize_with.to(probs)
        if memorize and self._step % self.memory_every == 0:
            keys, values = self._memorize(padded, remembered)
            with self._stage("bank_update"):
                self.bank.update(keys, values, step=self._step)
        self._previous = remembered
        return Step(logits, probs, self._full_size(padded_uncertainty), padded_uncertainty)

    def _memorize(self, padded_frame: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.device, self.precision), self._stage("memorize"):
            keys, values = self.model.encode_memory(padded_frame, self._started_padding.pad(masks))
        return keys.float(), values.float()

    @property
    def _started_padding(self) -> Padding:
        if self._padding is None:
            raise RuntimeError("start() the tracker with a keyframe first")
        return self._padding

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        with self.timer(name), out_of_memory_as_error(name):
            yield

    def _pad_frame(self, frame: torch.Tensor) -> torch.Tensor:
        padded = self._started_padding.pad(frame.to(self.device, torch.float32).unsqueeze(0))
        return padded.contiguous(memory_format=self.layout)

    def _full_size(self, half: torch.Tensor) -> torch.Tensor:
        """The URR map comes at half the padded size: bring it to the padded size, then crop the padding."""
        padded_size = tuple(2 * n for n in half.shape[-2:])
        full = F.interpolate(half.unsqueeze(0), size=padded_size, mode="bilinear", align_corners=False)[0, 0]
        return self._started_padding.crop(full)
