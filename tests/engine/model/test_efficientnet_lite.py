"""Our EfficientNet-Lite trunk against the implementation its ImageNet weights were converted for
(`efficientnet-lite-pytorch`), on a real DAVIS frame; and the key map's refusals."""

from __future__ import annotations

import cv2
import pytest
import torch
from torch.nn import functional as F

from engine.errors import CheckpointError
from engine.model.efficientnet_lite import (
    BN_EPS,
    LITE0,
    MEAN,
    STD,
    LiteTrunk,
    MBConv,
    feature_channels,
    imagenet_state_dict,
    imagenet_weights_path,
)
from tests.paths import FIXTURES

reference = pytest.importorskip("efficientnet_lite_pytorch")
FRAME = FIXTURES / "davis-quarter" / "JPEGImages" / "blackswan" / "00000.jpg"
BLACK_SWAN = 100  # ImageNet class index


def _package(variant: str) -> dict[str, torch.Tensor]:
    return torch.load(imagenet_weights_path(variant), map_location="cpu", weights_only=True)


def _frame(size: int) -> torch.Tensor:
    image = cv2.resize(cv2.imread(str(FRAME))[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _logits(trunk: LiteTrunk, head: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The ImageNet head on our trunk's last feature, from the package's own head weights."""
    h = F.conv2d(trunk(x)[-1], head["_conv_head.weight"])
    statistics = [head[f"_bn1.{name}"] for name in ("running_mean", "running_var", "weight", "bias")]
    h = F.batch_norm(h, *statistics, eps=BN_EPS)
    return F.linear(F.relu6(h).mean((2, 3)), head["_fc.weight"], head["_fc.bias"])


@pytest.mark.parametrize(("variant", "size"), [("lite0", 224), ("lite2", 260)])
def test_our_trunk_gives_the_reference_imagenet_logits_on_a_real_frame(variant, size):
    package = _package(variant)
    trunk_weights, head = imagenet_state_dict(package, variant, kept=len(LITE0))
    trunk = LiteTrunk(variant, kept=len(LITE0)).eval()
    trunk.load_state_dict(trunk_weights, strict=True)
    network = reference.EfficientNet.from_name(f"efficientnet-{variant}").eval()
    network.load_state_dict(package, strict=True)
    x = _frame(size)
    with torch.no_grad():
        ours, theirs = _logits(trunk, head, x), network(x)
    assert ours.argmax().item() == theirs.argmax().item() == BLACK_SWAN
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=0)  # measured: 3e-6 (lite0), 2e-6 (lite2)
    assert ours.softmax(1)[0, BLACK_SWAN] > 0.4  # the quarter-size frame, upscaled: lite0 0.53, lite2 0.46


def test_the_trunk_keeps_stages_to_one_sixteenth_and_reports_what_it_leaves():
    trunk_weights, rest = imagenet_state_dict(_package("lite0"), "lite0")
    trunk = LiteTrunk("lite0").eval()
    trunk.load_state_dict(trunk_weights, strict=True)
    assert {key.split(".")[0] for key in rest} == {"_blocks", "_conv_head", "_bn1", "_fc"}
    with torch.no_grad():
        features = trunk(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in features] == [
        (c, 64 // s, 96 // s) for c, s in zip(feature_channels("lite0"), (2, 4, 8, 16), strict=True)
    ]


def test_keys_that_fit_no_layer_are_named():
    package = _package("lite0")
    package["_blocks.3._se_reduce.weight"] = torch.zeros(1)
    package["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"keys that fit no layer: _blocks\.3\._se_reduce\.weight, extra\.weight"):
        imagenet_state_dict(package, "lite0")


def test_a_missing_weights_package_says_what_to_install():
    with pytest.raises(CheckpointError, match=r"efficientnet-lite4-pytorch-model.*\[train\]"):
        imagenet_weights_path("lite4")


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("size", [(20, 36), (21, 37), (20, 37)])
def test_a_strided_block_padded_before_its_expansion_equals_padding_the_expansion(kernel, size):
    """The block pads its narrow input and zeroes the padding again after the expansion; padding the expansion
    itself, as "SAME" is defined, must give the same output, batch norms shifting zeros included."""
    torch.manual_seed(0)
    block = MBConv(8, 16, kernel, stride=2, expand=6).eval()
    for norm in (block.expand_bn, block.depthwise_bn, block.project_bn):
        norm.bias.data.normal_()
        norm.running_mean.normal_()
    x = torch.randn(2, 8, *size)
    with torch.no_grad():
        expanded = F.relu6(block.expand_bn(block.expand(x)))
        direct = F.relu6(block.depthwise_bn(block.depthwise(expanded)))
        assert torch.equal(block(x), block.project_bn(block.project(direct)))
        assert block.expand_bn(block.expand(torch.zeros_like(x))).abs().max() > 0.1  # the shift is not zero
