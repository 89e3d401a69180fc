"""Our network and bank against the reference AFB-URR on the golden cases (see tests/fixtures).

The reference ran the same parity weights on the same frames. Its float32 results and ours differ by rounding:
convolution kernels, and so the last bits, depend on the CPU and the thread count, and neither implementation
is bit-reproducible across machines.

With the parity weights nearly every pixel is saturated for every object (p within 1e-5 of 1), where one ulp
of p moves the log-odds by more than 1e-3 and, through the softmax over objects, the memorised soft mask by up
to 0.17. Run freely, the loop amplifies those last-bit differences from frame to frame, so how many log-odds
stay within 1e-3 of the reference's depends on where the rounding happens to fall (99.98% or 99.83% on the
same machine depending only on the frames' memory layout). The tolerances are therefore checked frame by
frame: each frame is memorised with the reference's soft masks (`forced_masks`), which isolates the frame's own
computation, network and bank alike. The free-running loop must still give the reference's labels.

Bank sizes must agree exactly. The one thing rounding can legitimately change is a merge decision whose
cosine similarity lies within rounding distance of the threshold: such a feature is merged by one run and
appended by the other. Where the counts differ, the test re-runs that update with exactly enough of those
borderline decisions resolved the other way (all within BORDERLINE of the threshold, nearest first), and
fails if that does not reproduce the reference's counts.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import engine.propagation.bank
from engine.model import Padding
from engine.propagation.bank import BankConfig, FeatureBank
from engine.propagation.reference_loop import run_reference_loop
from tests.engine.model.golden_data import frames_from_uint8, one_hot

BORDERLINE = 1e-5  # cosine similarity; two float32 runs differ by a few 1e-6 here
CASES = ["blackswan_1obj", "blackswan_2obj_evict"]


class MergeDecisions:
    """Wraps the bank's nearest-entry search: records each object's best similarities, flips chosen ones."""

    def __init__(self, search) -> None:
        self.search = search
        self.calls: list[torch.Tensor] = []
        self.flips: dict[int, tuple[torch.Tensor, float]] = {}

    def __call__(self, normed_bank, normed_new, chunk_elements):
        best, where = self.search(normed_bank, normed_new, chunk_elements)
        if len(self.calls) in self.flips:
            index, value = self.flips[len(self.calls)]
            best = best.clone()
            best[index] = value
        self.calls.append(best)
        return best, where


class ReferenceDecisionBank(FeatureBank):
    """A FeatureBank that resolves borderline merge decisions as the reference did (see module docstring)."""

    def __init__(self, obj_n, config, decisions: MergeDecisions, expected_sizes: np.ndarray) -> None:
        super().__init__(obj_n, config)
        self.decisions = decisions
        self.expected_sizes = expected_sizes
        self.flipped: list[tuple[int, int, float]] = []  # (step, object, distance to the threshold)

    def update(self, keys, values, step, keyframe=False):
        saved = copy.deepcopy((self._objects, self.replaced, self._step))
        self.decisions.calls, self.decisions.flips = [], {}
        super().update(keys, values, step, keyframe)
        surplus = [ours - ref for ours, ref in zip(self.sizes, self.expected_sizes[step - 1], strict=True)]
        if not any(surplus):
            return
        flips = {obj: self._borderline(step, obj, n) for obj, n in enumerate(surplus) if n}
        self._objects, self.replaced, self._step = saved
        self.decisions.calls, self.decisions.flips = [], flips
        super().update(keys, values, step, keyframe)

    def _borderline(self, step: int, obj: int, surplus: int) -> tuple[torch.Tensor, float]:
        best = self.decisions.calls[obj]
        threshold = torch.tensor(self.config.merge_threshold, dtype=best.dtype)
        distance = best - threshold
        if surplus > 0:  # we appended features the reference merged
            candidates = (distance <= 0) & (distance > -BORDERLINE)
            value = torch.nextafter(threshold, torch.tensor(2.0)).item()
        else:
            candidates = (distance > 0) & (distance < BORDERLINE)
            value = threshold.item()
        index = torch.nonzero(candidates)[:, 0]
        index = index[distance[index].abs().argsort()][: abs(surplus)]
        assert len(index) == abs(surplus), f"step {step} object {obj}: {surplus} entries off, not borderline"
        self.flipped += [(step, obj, distance[i].item()) for i in index]
        return index, value


def _config(g) -> BankConfig:
    return BankConfig(
        budget=int(g["budget"]),
        update_rate=float(g["update_rate"]),
        merge_threshold=float(g["thres_close"]),
        protect_keyframes=False,
    )


@pytest.fixture(scope="module")
def forced_runs(parity_model, golden):
    """Each golden case run with the reference's soft masks memorised: {case: (outputs, bank)}."""
    mp = pytest.MonkeyPatch()
    decisions = MergeDecisions(engine.propagation.bank._nearest_entries)
    mp.setattr(engine.propagation.bank, "_nearest_entries", decisions)
    results = {}
    try:
        for case in CASES:
            g = golden[case]
            first = one_hot(g["first_mask"])
            bank = ReferenceDecisionBank(first.shape[0], _config(g), decisions, g["bank_n"])
            masks = torch.softmax(torch.from_numpy(g["logits"]), dim=1)
            frames = frames_from_uint8(g["frames"])
            steps = list(run_reference_loop(parity_model, frames, first, bank, forced_masks=masks))
            results[case] = (steps, bank)
    finally:
        mp.undo()
    return results


@pytest.fixture(scope="module")
def free_runs(parity_model, golden):
    """Each golden case run through the loop exactly as the reference runs it: {case: outputs}."""
    results = {}
    for case in CASES:
        g = golden[case]
        first = one_hot(g["first_mask"])
        bank = FeatureBank(first.shape[0], _config(g))
        results[case] = list(run_reference_loop(parity_model, frames_from_uint8(g["frames"]), first, bank))
    return results


@pytest.mark.parametrize("case", CASES)
def test_memorized_key_matches(parity_model, golden, case):
    g = golden[case]
    first = one_hot(g["first_mask"])
    padding = Padding.for_size(*first.shape[-2:])
    with torch.inference_mode():
        keys, _ = parity_model.encode_memory(padding.pad(frames_from_uint8(g["frames"][:1])), padding.pad(first))
    np.testing.assert_allclose(keys[0].numpy(), g["memorize0_key_obj0"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_uncertainty_matches(free_runs, golden, case):
    steps = free_runs[case]
    np.testing.assert_allclose(steps[0].uncertainty[0].numpy(), golden[case]["uncertainty_frame1"], atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_logits_and_labels_match_frame_by_frame(forced_runs, golden, case):
    steps, _ = forced_runs[case]
    logits = torch.stack([s.logits for s in steps]).numpy()
    expected = golden[case]["logits"]
    assert logits.shape == expected.shape
    close = np.abs(logits - expected) <= 1e-3
    assert close.mean() >= 0.999, f"only {close.mean():.5%} of logits within 1e-3"
    agree = logits.argmax(axis=1) == golden[case]["labels"]
    assert agree.mean() >= 0.999, f"labels agree on only {agree.mean():.5%} of pixels"


@pytest.mark.parametrize("case", CASES)
def test_bank_counts_match(forced_runs, golden, case):
    steps, bank = forced_runs[case]
    g = golden[case]
    assert bank.class_budget == g["class_budget"]
    np.testing.assert_array_equal(np.array([s.bank_sizes for s in steps]), g["bank_n"])
    np.testing.assert_array_equal(np.array([s.replaced for s in steps]), g["replace_n"])
    # A flip is rare: more than one per case would mean our rounding is further off than it should be.
    assert len(bank.flipped) <= 1, f"borderline merge decisions resolved: {bank.flipped}"


@pytest.mark.parametrize("case", CASES)
def test_free_running_labels_match(free_runs, golden, case):
    logits = torch.stack([s.logits for s in free_runs[case]]).numpy()
    agree = logits.argmax(axis=1) == golden[case]["labels"]
    assert agree.mean() >= 0.999, f"labels agree on only {agree.mean():.5%} of pixels"
