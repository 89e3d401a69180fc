"""The memory and query encoders: two trunks with features down to 1/16, ResNet (cut after layer3: 1024
channels in ResNet-50) or EfficientNet-Lite (cut after its fifth stage).

Both normalise with their trunk's input statistics themselves, after the caller's zero padding, as the
reference does: the padded border therefore enters the network as -mean/std, not as 0. The statistics are
persistent buffers because the reference checkpoints carry them.

The memory encoder sees a frame together with one object's soft mask and the "other" mask: each mask enters
through a convolution of its own, added to the frame's stem convolution before the first batch norm.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.model import efficientnet_lite
from engine.model.config import ModelConfig
from engine.model.efficientnet_lite import LiteTrunk, SameConv
from engine.model.resnet import make_stage

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _Normalised(nn.Module):
    """Holds the input statistics its trunk was trained with."""

    def _register_statistics(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD):
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def _normalise(self, frame: torch.Tensor) -> torch.Tensor:
        return (frame - self.mean) / self.std


class _Trunk(_Normalised):
    """The ResNet stem and stages 1-3; subclasses decide what is added before the first batch norm."""

    def _build_trunk(self, config: ModelConfig) -> None:
        stem, (w2, w3, w4), (b2, b3, b4) = config.stem, config.widths, config.blocks
        c2, c3, _ = config.stage_channels
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.res2 = make_stage(stem, w2, blocks=b2, stride=1)  # 1/4, 256 channels in ResNet-50
        self.res3 = make_stage(c2, w3, blocks=b3, stride=2)  # 1/8, 512
        self.res4 = make_stage(c3, w4, blocks=b4, stride=2)  # 1/16, 1024


class MemoryEncoder(_Trunk):
    """Encodes a frame together with one object's soft mask and the "other" mask, batched over objects."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._register_statistics()
        self.conv1_m = nn.Conv2d(1, config.stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.conv1_o = nn.Conv2d(1, config.stem, kernel_size=7, stride=2, padding=3, bias=False)
        self._build_trunk(config)

    def forward(self, frame: torch.Tensor, mask: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """`frame` (K,3,H,W), `mask` and `other` (K,1,H,W) -> r4 (K,1024,H/16,W/16).

        The masks enter as convolutions added to the frame's before the first batch norm. The frame is repeated
        per object rather than convolved once and broadcast: that would be cheaper, but a batch of one rounds
        differently from the reference's batch of K, and the parity margin is thin.
        """
        x = self.conv1(self._normalise(frame)) + self.conv1_m(mask) + self.conv1_o(other)
        return self.res4(self.res3(self.res2(self.maxpool(self.relu(self.bn1(x))))))


class QueryEncoder(_Trunk):
    """Encodes the frame being segmented and keeps the skip features the decoder needs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._register_statistics()
        self._build_trunk(config)

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`frame` (B,3,H,W) -> (r4 1/16 1024ch, r3 1/8 512ch, r2 1/4 256ch, r1 1/2 64ch)."""
        r1 = self.relu(self.bn1(self.conv1(self._normalise(frame))))
        r2 = self.res2(self.maxpool(r1))
        r3 = self.res3(r2)
        r4 = self.res4(r3)
        return r4, r3, r2, r1


class LiteMemoryEncoder(_Normalised):
    """The memory encoder on an EfficientNet-Lite trunk; the mask convolutions start at zero, so that a
    trunk fresh from ImageNet first sees the frame exactly as it was trained to."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._register_statistics(efficientnet_lite.MEAN, efficientnet_lite.STD)
        self.conv_stem_m = SameConv(1, efficientnet_lite.STEM, 3, stride=2)
        self.conv_stem_o = SameConv(1, efficientnet_lite.STEM, 3, stride=2)
        nn.init.zeros_(self.conv_stem_m.weight)
        nn.init.zeros_(self.conv_stem_o.weight)
        self.trunk = LiteTrunk(config.encoder)

    def forward(self, frame: torch.Tensor, mask: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """`frame` (K,3,H,W), `mask` and `other` (K,1,H,W) -> r4 (K,C,H/16,W/16)."""
        x = self.trunk.stem(self._normalise(frame)) + self.conv_stem_m(mask) + self.conv_stem_o(other)
        return self.trunk.forward_from_stem(x)[3]

    @torch.no_grad()
    def fold_batch_norms(self) -> None:
        """Fold the trunk's batch norms (`LiteTrunk.fold_batch_norms`); the mask convolutions, added to the
        stem's before its batch norm, take the stem's scale."""
        scale = self.trunk.fold_batch_norms().view(-1, 1, 1, 1)
        self.conv_stem_m.weight.mul_(scale)
        self.conv_stem_o.weight.mul_(scale)


class LiteQueryEncoder(_Normalised):
    """The query encoder on an EfficientNet-Lite trunk, keeping the decoder's skip features."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._register_statistics(efficientnet_lite.MEAN, efficientnet_lite.STD)
        self.trunk = LiteTrunk(config.encoder)

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`frame` (B,3,H,W) -> (r4, r3, r2, r1) at 1/16, 1/8, 1/4 and 1/2."""
        r1, r2, r3, r4 = self.trunk(self._normalise(frame))
        return r4, r3, r2, r1

    @torch.no_grad()
    def fold_batch_norms(self) -> None:
        """Fold the trunk's batch norms (`LiteTrunk.fold_batch_norms`)."""
        self.trunk.fold_batch_norms()


def make_encoders(config: ModelConfig) -> tuple[nn.Module, nn.Module]:
    """The memory and the query encoder of `config`'s trunk."""
    if config.encoder == "resnet":
        return MemoryEncoder(config), QueryEncoder(config)
    return LiteMemoryEncoder(config), LiteQueryEncoder(config)
