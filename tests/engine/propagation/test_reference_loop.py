"""The reference loop on synthetic clips: where the reference would crash, and a long run within budget."""

from __future__ import annotations

import pytest
import torch

from engine.bench.synthetic import SyntheticClip
from engine.compute.device import set_deterministic
from engine.model import ReadOptions
from engine.propagation.bank import BankConfig, FeatureBank
from engine.propagation.reference_loop import run_reference_loop


def test_frame_bringing_more_entries_than_the_budget_runs_through(parity_model):
    """48 x 64 gives 12 features per frame, none of which merges, against 4 per object.

    The reference empties the bank on frame 1 and then fails on min() of an empty tensor. Ours keeps an
    evenly spaced subset that fits (the keyframe's too: the bank starts at its budget)."""
    clip = SyntheticClip(48, 64, objects=1, length=8)
    bank = FeatureBank(2, BankConfig(budget=10, merge_threshold=2.0, protect_keyframes=False))
    steps = list(run_reference_loop(parity_model, clip, clip.first_mask, bank))
    assert len(steps) == 7
    assert steps[0].bank_sizes == [4, 4] and steps[0].replaced == [4, 4]
    assert all(step.bank_sizes == [4, 4] for step in steps)


@pytest.mark.slow
def test_500_frames_never_exceed_the_budget(parity_model):
    """Keyframe entries protected (the default): eviction works around them."""
    clip = SyntheticClip(32, 48, objects=2, length=501)
    bank = FeatureBank(3, BankConfig(budget=60, merge_threshold=0.99))
    largest = 0
    for step in run_reference_loop(parity_model, clip, clip.first_mask, bank):
        largest = max(largest, *step.bank_sizes)
        assert largest <= bank.class_budget, f"frame {step.index}: {step.bank_sizes}"
    assert min(bank.replaced) > 0
    assert largest == bank.class_budget


@pytest.mark.parametrize("reader", ["global", "kmn", "skn"])
def test_every_reader_runs_the_loop_deterministically(parity_model, reader):
    """Deterministic mode on: no stage may use a kernel torch cannot run deterministically; runs repeat exactly."""
    clip = SyntheticClip(48, 64, objects=2, length=4)
    options = ReadOptions(reader=reader, chunk_elements=500)  # several chunks per read
    runs = []
    try:
        set_deterministic(True)
        for _ in range(2):
            bank = FeatureBank(3, BankConfig(budget=60))
            runs.append(
                [step.logits for step in run_reference_loop(parity_model, clip, clip.first_mask, bank, options)]
            )
    finally:
        set_deterministic(False)
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_a_memory_interval_memorises_every_nth_frame_only(parity_model):
    """48 x 64 gives 12 features per frame per object; nothing merges at a threshold above 1."""
    clip = SyntheticClip(48, 64, objects=1, length=8)
    bank = FeatureBank(2, BankConfig(merge_threshold=2.0))
    sizes = [
        step.bank_sizes[0] for step in run_reference_loop(parity_model, clip, clip.first_mask, bank, memory_every=3)
    ]
    assert sizes == [12, 12, 24, 24, 24, 36, 36]  # the keyframe, then frames 3 and 6 (7 is the last: never)


def test_a_memory_interval_below_one_is_refused(parity_model):
    clip = SyntheticClip(48, 64, objects=1, length=3)
    with pytest.raises(ValueError, match="memory_every"):
        list(run_reference_loop(parity_model, clip, clip.first_mask, FeatureBank(2), memory_every=0))
