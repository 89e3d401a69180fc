"""The reference's per-clip loop in its plainest form: frame 0's mask in, every later frame's log-odds out.

Frame 0's mask initialises the bank; every later frame is read and decoded, then (except the last, whose
memory nobody would read) memorised with its own soft masks. This is how the reference produced its golden
outputs, so the parity test runs it; the benchmark times its stages. Both go through `engine.propagation.tracker`, the
same code the shot propagator runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from engine.choices import Precision
from engine.model.afburr import AFBURR
from engine.model.readout import ReadOptions
from engine.propagation.bank import FeatureBank
from engine.propagation.tracker import STAGES, Timer, Tracker, untimed

__all__ = ["STAGES", "StepOutput", "run_reference_loop"]


@dataclass(frozen=True)
class StepOutput:
    index: int  # frame index in the clip, from 1
    logits: torch.Tensor  # (O, H, W) per-object log-odds at the frame size
    uncertainty: torch.Tensor  # (1, Hp/2, Wp/2) URR uncertainty at half the padded size
    bank_sizes: list[int]  # entries per object after this frame's update
    replaced: list[int]  # entries evicted so far, per object


def run_reference_loop(
    model: AFBURR,
    frames: Sequence[torch.Tensor],
    first_mask: torch.Tensor,
    bank: FeatureBank,
    read_options: ReadOptions | None = None,
    precision: Precision = "fp32",
    timer: Timer = untimed,
    forced_masks: Sequence[torch.Tensor] | None = None,
    memory_every: int = 1,
) -> Iterator[StepOutput]:
    """Propagate `first_mask` (O, H, W) one-hot, background first, through `frames` (each (3, H, W) in [0, 1]).

    `timer(stage)` is entered around each stage (names in `STAGES`), for benchmarks. `forced_masks[t - 1]`,
    when given, is the soft mask (O, H, W) memorised for frame t instead of the loop's own. `memory_every`
    N memorises only every N-th frame (the reference: 1).
    """
    tracker = Tracker(model, bank, read_options, precision, timer, memory_every)
    tracker.start(frames[0], first_mask)
    for index in range(1, len(frames)):
        forced = None if forced_masks is None else forced_masks[index - 1]
        step = tracker.step(frames[index], memorize=index < len(frames) - 1, memorize_with=forced)
        yield StepOutput(index, step.logits, step.padded_uncertainty, bank.sizes, list(bank.replaced))
