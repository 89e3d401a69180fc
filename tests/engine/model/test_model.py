"""The network's structure and stage contracts (its numbers are checked by test_parity)."""

from __future__ import annotations

import json

import pytest
import torch

from engine.model import AFBURR, Padding, ReadOptions
from engine.model.readout import MemoryView
from tests.paths import FIXTURES


def test_state_dict_keys_order_and_shapes_equal_the_references():
    manifest = json.loads((FIXTURES / "state_dict_manifest.json").read_text())
    state = AFBURR().state_dict()
    assert list(state) == list(manifest)
    assert {key: list(value.shape) for key, value in state.items()} == manifest


def test_parameter_count_is_the_references():
    assert sum(p.numel() for p in AFBURR().parameters()) == 33_082_660


def test_batch_norms_stay_in_eval_mode_when_training():
    model = AFBURR().train()
    assert model.training
    assert all(not m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize(
    ("size", "expected"),
    [((240, 432), Padding(0, 0, 0, 0)), ((250, 440), Padding(4, 4, 3, 3)), ((241, 433), Padding(7, 8, 7, 8))],
)
def test_padding_splits_like_the_reference_and_crops_back(size, expected):
    padding = Padding.for_size(*size)
    assert padding == expected
    x = torch.randn(2, *size)
    padded = padding.pad(x)
    assert padded.shape[-2] % 16 == 0 and padded.shape[-1] % 16 == 0
    assert torch.equal(padding.crop(padded), x)


def test_stages_refuse_unpadded_frames(parity_model):
    with pytest.raises(ValueError, match="multiple of 16"):
        parity_model.encode_query(torch.zeros(1, 3, 40, 48))


def test_stages_batch_frames_like_single_frames(parity_model):
    """Two query frames in one batch give what each gives alone (training reads several frames at once)."""
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, 64, 80, generator=generator)
    masks = torch.softmax(torch.randn(3, 64, 80, generator=generator), dim=0)
    with torch.inference_mode():
        keys, values = parity_model.encode_memory(frames[:1], masks)
        memory = MemoryView(keys, values, None)
        query = parity_model.encode_query(frames)
        readout = parity_model.read(query, memory, ReadOptions())
        both = parity_model.decode(readout.features, query)
        single_query = parity_model.encode_query(frames[1:])
        single = parity_model.decode(parity_model.read(single_query, memory).features, single_query)
    assert both.logits.shape == (2, 3, 64, 80) and both.uncertainty.shape == (2, 1, 32, 40)
    # Compared as probabilities: near the clamp, log-odds magnify the last bits of rounding.
    torch.testing.assert_close(both.logits[1:].sigmoid(), single.logits.sigmoid(), atol=1e-4, rtol=0)
    assert ((both.uncertainty > 0) & (both.uncertainty <= 1)).all()
