"""The form a network runs frames in: EfficientNet-Lite trunks with their batch norms folded into the
convolutions, and the decoder's local windows as separable passes, against the modules they replace."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.checkpoint_choice import DEFAULT_NETWORK
from engine.model import AFBURR
from engine.model.config import named_config
from engine.model.decoder import LOCAL_SIZE, local_max, local_mean
from engine.model.weights import load_model


@pytest.fixture(scope="module")
def shipped() -> AFBURR:
    return load_model(DEFAULT_NETWORK)


def _frame_and_masks(height: int = 96, width: int = 160) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    frame = torch.rand(1, 3, height, width, generator=generator)
    foreground = (torch.rand(1, height, width, generator=generator) > 0.6).float()
    return frame, torch.cat([1 - foreground, foreground])


def test_folded_lite_network_computes_what_the_trained_one_does(shipped):
    frame, masks = _frame_and_masks()
    folded = shipped.for_inference()
    with torch.inference_mode():
        for ours, theirs in zip(folded.encode_query(frame), shipped.encode_query(frame), strict=True):
            if isinstance(ours, torch.Tensor):
                assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4)
        for ours, theirs in zip(folded.encode_memory(frame, masks), shipped.encode_memory(frame, masks), strict=True):
            assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4)


def test_folding_leaves_the_network_itself_untouched(shipped):
    before = {key: value.clone() for key, value in shipped.state_dict().items()}
    folded = shipped.for_inference()
    assert folded is not shipped and folded.for_inference() is folded
    assert not any(isinstance(module, nn.BatchNorm2d) for module in folded.encoder_q.modules())
    assert not any(isinstance(module, nn.BatchNorm2d) for module in folded.encoder_m.modules())
    after = shipped.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[key], value) for key, value in before.items())


def test_the_resnet_reference_runs_as_it_is():
    model = AFBURR(named_config("tiny"))
    assert model.for_inference() is model


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_local_windows_equal_the_reference_pooling(layout):
    x = torch.rand(2, 5, 37, 50).contiguous(memory_format=layout)
    half = LOCAL_SIZE // 2
    mean = nn.AvgPool2d(LOCAL_SIZE, stride=1, padding=half)(x)  # count_include_pad, as the reference
    maximum = nn.MaxPool2d(LOCAL_SIZE, stride=1, padding=half)(x)
    assert torch.allclose(local_mean(x), mean, atol=1e-6, rtol=0)
    assert torch.equal(local_max(x), maximum)
