"""ResNet-50 (v1.5) stages, written out so the trunks need no torchvision.

Module and parameter names follow torchvision's `resnet50`, because the published AFB-URR checkpoints store
the trunks under those names (`conv1`, `bn1`, `layerN.i.conv2`, `downsample.0`, ...).
"""

from __future__ import annotations

import torch
from torch import nn

EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 with the stride on the 3x3 convolution (the "v1.5" variant torchvision ships)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * EXPANSION, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or inplanes != planes * EXPANSION:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * EXPANSION, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * EXPANSION),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def make_stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """One ResNet stage (torchvision's `layerN`): a possibly strided first block, then `blocks - 1` more."""
    layers = [Bottleneck(inplanes, planes, stride)]
    layers += [Bottleneck(planes * EXPANSION, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
