"""The adaptive feature bank on constructed features: merging, appending, LFU eviction, budgets."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch

from engine.propagation.bank import BankConfig, FeatureBank, class_budget

C, D = 16, 8  # key and value sizes; the bank works with any


def _basis(indices, dim=C) -> torch.Tensor:
    """Unit vectors e_i as columns: features that are orthogonal to each other (cosine 0)."""
    return torch.eye(dim)[:, list(indices)]


def _stack(*per_object: torch.Tensor) -> torch.Tensor:
    return torch.stack(per_object)


def _bank(obj_n=2, **config) -> FeatureBank:
    config.setdefault("protect_keyframes", False)
    return FeatureBank(obj_n, BankConfig(**config))


@pytest.mark.parametrize(("budget", "obj_n", "expected"), [(300000, 2, 120000.0), (300000, 3, 100000), (2100, 3, 700)])
def test_budget_split_is_the_references(budget, obj_n, expected):
    assert class_budget(budget, obj_n) == expected


def test_close_features_merge_with_the_old_norm_and_the_rest_append():
    bank = _bank(budget=1000, update_rate=0.1, merge_threshold=0.95)
    keys = 3.0 * _basis(range(4))
    values = torch.randn(D, 4)
    bank.initialize(_stack(keys, keys), _stack(values, values))
    # Two features close to entry 1 (cosine ~0.995), one orthogonal to everything.
    near_a = _basis([1])[:, 0] + 0.1 * _basis([2])[:, 0]
    near_b = _basis([1])[:, 0] + 0.1 * _basis([3])[:, 0]
    new_keys = torch.stack([near_a, near_b, _basis([9])[:, 0]], dim=1)
    new_values = torch.randn(D, 3)
    bank.update(_stack(new_keys, new_keys), _stack(new_values, new_values), step=1)

    assert bank.sizes == [5, 5]
    merged = bank.view().keys[0, :, 1]
    mean_new = (near_a / near_a.norm() + near_b / near_b.norm()) / 2
    expected = 3.0 * (0.9 * _basis([1])[:, 0] + 0.1 * mean_new)
    torch.testing.assert_close(merged, expected)
    # Values follow the keys' matches, each with its own normalisation and norm.
    old_value = values[:, 1]
    value_mean = sum(v / v.norm() for v in new_values[:, :2].T) / 2
    expected_value = old_value.norm() * (0.9 * old_value / old_value.norm() + 0.1 * value_mean)
    torch.testing.assert_close(bank.view().values[0, :, 1], expected_value)
    torch.testing.assert_close(bank.view().keys[0, :, 4], _basis([9])[:, 0])


def _bank_with_usage(counts, budget, obj_n=2, protect=False):
    """A bank whose object-0 entries e_0.. have the given usage counts (and object 1 mirrors it)."""
    bank = FeatureBank(obj_n, BankConfig(budget=budget, protect_keyframes=protect))
    n = len(counts)
    keys = _stack(*[_basis(range(n))] * obj_n)
    bank.initialize(keys, torch.ones(obj_n, D, n), step=0)
    bank.add_usage(torch.tensor([counts] * obj_n))
    return bank


def test_eviction_follows_the_references_rising_integer_threshold():
    # LFU = log(1 + count) / age(1): 0, 1.10, 1.95, 3.04, 3.93, 5.02. Budget per object: 0.8 * (20 // 2) = 8.
    bank = _bank_with_usage([0, 2, 6, 20, 50, 150], budget=20)
    new = _stack(_basis(range(8, 12)), _basis(range(8, 12)))
    bank.update(new, torch.zeros(2, D, 4), step=1)
    # First pass drops LFU <= 1 (one entry): 5 + 4 > 8, so a second pass drops LFU <= 2 (two more).
    assert bank.replaced == [3, 3]
    assert bank.sizes == [7, 7]
    survivors = bank.view().keys[0, :, :3].argmax(dim=0).tolist()
    assert survivors == [3, 4, 5]


def test_usage_is_log_of_one_plus_count_and_capped():
    bank = _bank_with_usage([0, 1, 9], budget=100, obj_n=3)
    torch.testing.assert_close(bank._objects[0].usage, torch.log(torch.tensor([1.0, 2.0, 10.0])))
    big = torch.full((3, 3), 2**23)
    for _ in range(7000):  # 7000 * log(2**23) > 1e5
        bank.add_usage(big)
    bank.update(torch.zeros(3, C, 0), torch.zeros(3, D, 0), step=1)
    assert bank._objects[0].usage.max().item() == 1e5


def test_frame_with_more_features_than_the_budget_keeps_working():
    """The reference empties the bank here and then fails on min() of an empty tensor."""
    bank = _bank(obj_n=3, budget=30)  # 10 per object
    bank.initialize(torch.randn(3, C, 6), torch.randn(3, D, 6))
    new_keys = _stack(*[_basis(range(16)).repeat(1, 2)[:, :25] * torch.arange(1.0, 26.0)] * 3)
    bank.update(new_keys, torch.randn(3, D, 25), step=1)
    assert bank.sizes == [10, 10, 10]
    assert bank.replaced == [6, 6, 6]
    bank.update(torch.randn(3, C, 40), torch.randn(3, D, 40), step=2)
    assert max(bank.sizes) <= 10


def test_keyframe_entries_survive_eviction_when_protected():
    bank = _bank_with_usage([0, 0, 0, 0], budget=20, protect=True)  # 8 per object; all entries unused
    for step in range(1, 6):
        bank.update(_stack(*[_basis(range(4, 16))[:, :6] * step] * 2), torch.zeros(2, D, 6), step=step)
        assert max(bank.sizes) <= 8
        kept = bank.view().keys[0]
        assert all(kept[i, i] == 1 for i in range(4)), "a keyframe entry was evicted"
    unprotected = _bank_with_usage([0, 0, 0, 0], budget=20)
    unprotected.update(_stack(*[_basis(range(4, 16))[:, :6]] * 2), torch.zeros(2, D, 6), step=1)
    assert unprotected.replaced == [4, 4]


def test_update_steps_must_grow():
    bank = _bank()
    bank.initialize(torch.randn(2, C, 3), torch.randn(2, D, 3), step=5)
    with pytest.raises(ValueError, match="greater than the last step 5"):
        bank.update(torch.randn(2, C, 3), torch.randn(2, D, 3), step=5)


def test_feature_shapes_are_checked():
    with pytest.raises(ValueError, match="obj_n=2"):
        _bank().initialize(torch.randn(3, C, 3), torch.randn(3, D, 3))
    with pytest.raises(ValueError, match="at least one memorised class"):
        FeatureBank(0)


def _drifting_features(generator, obj_n, n, step):
    """Features that drift slowly over time, so that some merge and some append."""
    base = torch.randn(obj_n, C, n, generator=generator)
    drift = torch.randn(obj_n, C, n, generator=generator) * 0.2 * math.sin(step / 7)
    return base + drift, torch.randn(obj_n, D, n, generator=generator)


@pytest.mark.parametrize("protect", [False, True])
def test_long_run_never_exceeds_the_budget(protect):
    generator = torch.Generator().manual_seed(0)
    bank = FeatureBank(3, BankConfig(budget=3 * 200, merge_threshold=0.8, protect_keyframes=protect))
    keys, values = _drifting_features(generator, 3, 60, 0)
    bank.initialize(keys, values)
    for step in range(1, 501):
        bank.add_usage(torch.randint(0, 30, (3, max(bank.sizes)), generator=generator))
        keys, values = _drifting_features(generator, 3, 60 + step % 90, step)
        bank.update(keys, values, step=step)
        assert max(bank.sizes) <= bank.class_budget
    assert min(bank.replaced) > 0


def _naive_update(state, new_keys, new_values, step, budget, rate, threshold):
    """The bank update written feature by feature from the paper's description, to check ours against."""
    keys, values, added, usage = state
    normed = keys / keys.norm(dim=0)
    groups, appended = defaultdict(list), []
    for j in range(new_keys.shape[1]):
        corr = normed.T @ (new_keys[:, j] / new_keys[:, j].norm())
        best = int(corr.argmax())
        (groups[best].append(j) if corr[best] > threshold else appended.append(j))
    keys, values = keys.clone(), values.clone()
    for entry, members in groups.items():
        for bank_part, new_part in ((keys, new_keys), (values, new_values)):
            mean = sum(new_part[:, j] / new_part[:, j].norm() for j in members) / len(members)
            old = bank_part[:, entry].clone()
            bank_part[:, entry] = old.norm() * ((1 - rate) * old / old.norm() + rate * mean)
    if budget < keys.shape[1] + len(appended):
        lfu = usage / (step - added)
        while True:
            keep = lfu > int(lfu.min()) + 1
            keys, values, added, usage, lfu = keys[:, keep], values[:, keep], added[keep], usage[keep], lfu[keep]
            if budget - keys.shape[1] - len(appended) >= 0:
                break
    n = len(appended)
    return (
        torch.cat([keys, new_keys[:, appended]], 1),
        torch.cat([values, new_values[:, appended]], 1),
        torch.cat([added, torch.full((n,), float(step))]),
        torch.cat([usage, torch.zeros(n)]),
    )


def test_matches_a_naive_transcription_over_a_sequence_with_evictions():
    generator = torch.Generator().manual_seed(1)
    budget, rate, threshold = 90, 0.1, 0.6
    bank = FeatureBank(
        2, BankConfig(budget=budget, update_rate=rate, merge_threshold=threshold, protect_keyframes=False)
    )
    keys, values = _drifting_features(generator, 2, 30, 0)
    bank.initialize(keys, values)
    naive = (keys[0], values[0], torch.zeros(30), torch.zeros(30))
    for step in range(1, 15):
        counts = torch.randint(0, 40, (2, max(bank.sizes)), generator=generator)
        bank.add_usage(counts)
        k, v, a, u = naive
        naive = (k, v, a, u + torch.log(counts[0, : k.shape[1]].float() + 1))
        keys, values = _drifting_features(generator, 2, 30, step)
        bank.update(keys, values, step=step)
        naive = _naive_update(naive, keys[0], values[0], step, 0.8 * (budget // 2), rate, threshold)
        assert bank.sizes[0] == naive[0].shape[1]
        torch.testing.assert_close(bank.view().keys[0, :, : bank.sizes[0]], naive[0])
        torch.testing.assert_close(bank.view().values[0, :, : bank.sizes[0]], naive[1])
    assert bank.replaced[0] > 0


def test_the_readers_view_shares_the_banks_memory():
    bank = _bank(obj_n=3, budget=1000)
    bank.initialize(torch.randn(3, C, 5), torch.randn(3, D, 5))
    generator = torch.Generator().manual_seed(4)
    bank.update(torch.randn(3, C, 7, generator=generator), torch.randn(3, D, 7, generator=generator), step=1)
    view = bank.view()
    for obj in bank._objects:
        assert obj.keys.untyped_storage().data_ptr() == view.keys.untyped_storage().data_ptr()
        assert obj.values.untyped_storage().data_ptr() == view.values.untyped_storage().data_ptr()
