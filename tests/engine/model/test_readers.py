"""Memory readers on constructed tensors: chunking changes nothing, and what KMN and SKN are for."""

from __future__ import annotations

import math

import pytest
import torch

from engine.model.readout import MemoryView, ReadOptions, read_memory
from engine.model.spatial_prior import spatial_log_prior


def _random_memory(generator, sizes, key_dim=16, value_dim=8):
    keys = [torch.randn(key_dim, n, generator=generator) for n in sizes]
    values = [torch.randn(value_dim, n, generator=generator) for n in sizes]
    longest = max(sizes)
    padded_keys = torch.zeros(len(sizes), key_dim, longest)
    padded_values = torch.zeros(len(sizes), value_dim, longest)
    valid = torch.zeros(len(sizes), longest, dtype=torch.bool)
    for i, n in enumerate(sizes):
        padded_keys[i, :, :n], padded_values[i, :, :n], valid[i, :n] = keys[i], values[i], True
    return keys, values, MemoryView(padded_keys, padded_values, valid)


def _one_object_read(keys, values, query_key):
    """The reference's read for one object: softmax over the bank of K^T q / sqrt(C)."""
    attention = torch.softmax(keys.T @ query_key / math.sqrt(keys.shape[0]), dim=0)
    return values @ attention, (attention > 1e-3).sum(dim=1)


@pytest.mark.parametrize("chunk_elements", [1, 50, 1 << 30])
def test_global_read_of_padded_banks_equals_per_object_reads(chunk_elements):
    generator = torch.Generator().manual_seed(0)
    keys, values, memory = _random_memory(generator, [40, 25, 33])
    query = torch.randn(1, 16, 6 * 7, generator=generator)
    result = read_memory(memory, query, (6, 7), ReadOptions(chunk_elements=chunk_elements))
    for obj, (k, v) in enumerate(zip(keys, values, strict=True)):
        readout, usage = _one_object_read(k, v, query[0])
        torch.testing.assert_close(result.readout[0, obj], readout)
        assert torch.equal(result.usage[obj, : k.shape[1]], usage)
        assert not result.usage[obj, k.shape[1] :].any()


def test_usage_counts_only_the_first_frame_of_a_batch():
    generator = torch.Generator().manual_seed(1)
    keys, values, memory = _random_memory(generator, [20, 20])
    query = torch.randn(3, 16, 12, generator=generator)
    result = read_memory(memory, query, (3, 4), ReadOptions())
    _, usage = _one_object_read(keys[1], values[1], query[0])
    assert torch.equal(result.usage[1], usage)
    torch.testing.assert_close(result.readout[2, 1], _one_object_read(keys[1], values[1], query[2])[0])


@pytest.mark.parametrize("reader", ["kmn", "skn"])
def test_kernelized_reads_do_not_depend_on_chunking(reader):
    generator = torch.Generator().manual_seed(2)
    _, _, memory = _random_memory(generator, [30, 18])
    query = torch.randn(1, 16, 8 * 9, generator=generator)
    prior = torch.randn(2, 72, generator=generator)
    whole = read_memory(memory, query, (8, 9), ReadOptions(reader=reader, sigma=2.0), prior)
    chunked = read_memory(memory, query, (8, 9), ReadOptions(reader=reader, sigma=2.0, chunk_elements=7), prior)
    torch.testing.assert_close(chunked.readout, whole.readout)
    assert torch.equal(chunked.usage, whole.usage)


def test_kernel_wider_than_the_frame_is_the_global_read():
    generator = torch.Generator().manual_seed(3)
    _, _, memory = _random_memory(generator, [10, 10])
    query = torch.randn(1, 16, 20, generator=generator)
    wide = read_memory(memory, query, (4, 5), ReadOptions(reader="kmn", sigma=1e6))
    plain = read_memory(memory, query, (4, 5), ReadOptions())
    torch.testing.assert_close(wide.readout, plain.readout)


# A 1 x 12 strip of query positions; logits are key . query / 2. Object 1's memory holds an "object" entry
# (value 1) and two background entries (value 0): one that matches best at position 9, next to where a
# look-alike of the object (slightly stronger than the object itself) appears at position 10, and one that
# matches the plain background everywhere else. The object was at positions 1-2 in the last frame.
GRID = (1, 12)
OBJECT, DISTRACTOR, NEXT_TO_DISTRACTOR = 1, 10, 9


def _distractor_scene():
    obj_key = torch.tensor([4.0, 0, 0, 0])
    near_distractor_key = torch.tensor([1.0, 4, 0, 0])
    plain_key = torch.tensor([0.0, 0, 4, 0])
    keys = torch.stack([obj_key, near_distractor_key, plain_key], dim=1)
    memory = MemoryView(
        keys=keys.unsqueeze(0).repeat(2, 1, 1),
        values=torch.tensor([[[1.0, 0.0, 0.0]]]).repeat(2, 1, 1),
        valid=None,
    )
    query = plain_key.repeat(GRID[1], 1).T.clone()
    query[:, OBJECT] = obj_key
    query[:, DISTRACTOR] = 1.05 * obj_key
    query[:, NEXT_TO_DISTRACTOR] = torch.tensor([0.0, 20, 0, 0])
    previous = torch.zeros(2, 16, 16 * GRID[1])
    previous[1, :, 16 * 1 : 16 * 3] = 1.0  # object 1 covered grid cells 1-2
    previous[0] = 1 - previous[1]
    return memory, query.unsqueeze(0), previous


def _objectness(reader):
    memory, query, previous = _distractor_scene()
    options = ReadOptions(reader=reader, sigma=1.5)
    prior = spatial_log_prior(previous, GRID, options.spread_scale)
    readout = read_memory(memory, query, GRID, options, prior).readout
    return readout[0, 1, 0]  # object 1's read-out per position


def test_global_read_follows_the_look_alike():
    objectness = _objectness("global")
    assert objectness[OBJECT] > 0.99 and objectness[DISTRACTOR] > 0.99


def test_kmn_alone_is_captured_by_a_stronger_look_alike():
    objectness = _objectness("kmn")
    assert objectness[DISTRACTOR] > 0.99
    assert objectness[OBJECT] < 0.5


def test_skn_suppresses_the_distant_look_alike_and_keeps_the_object():
    objectness = _objectness("skn")
    assert objectness[OBJECT] > 0.99
    assert objectness[DISTRACTOR] < 0.01


def test_spatial_prior_is_centred_on_the_median_with_the_rms_spread():
    probs = torch.zeros(3, 64, 64)
    probs[1, 16:31, 32:47] = 1  # 15 x 15 pixels on a 16 x 16 grid of stride 4
    probs[0] = 1 - probs[1]
    prior = spatial_log_prior(probs, (16, 16), spread_scale=2.0).view(3, 16, 16)
    assert torch.equal(prior[0], torch.zeros(16, 16)), "background is unconstrained"
    assert torch.equal(prior[2], torch.zeros(16, 16)), "an object absent from the last frame is unconstrained"
    # Pixel p lies at grid coordinate (p + 0.5) / 4 - 0.5: medians y 23 -> 5.375 and x 39 -> 9.375; the
    # pixels sit at 0.25 k (k = -7..7) from them, an RMS spread of 0.25 * sqrt(56 / 3).
    sigma = 2.0 * 0.25 * math.sqrt(56 / 3)
    gy, gx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    expected = -((gy - 5.375) ** 2 + (gx - 9.375) ** 2) / (2 * sigma**2)
    torch.testing.assert_close(prior[1], expected)


def test_skn_needs_the_previous_mask():
    memory, query, _ = _distractor_scene()
    with pytest.raises(ValueError, match="spatial prior"):
        read_memory(memory, query, GRID, ReadOptions(reader="skn"))


def test_options_are_validated():
    with pytest.raises(ValueError, match="reader must be one of"):
        ReadOptions(reader="local")
    with pytest.raises(ValueError, match="positive"):
        ReadOptions(sigma=0)
