"""The refine decoder and the uncertain-region refinement (URR) of AFB-URR.

The decoder runs once per (frame, memorised class) pair, batch-major (frame 0's first). The skip branches of
the refine blocks (`convFS` + `ResFS`) see only the query frame, so they run once per frame and are shared by
all objects instead of being recomputed for each object.

A network with an implicit background (`ModelConfig.background`) decodes the objects alone, and the
background's probability is the chance that no object claims the pixel, the product of their complements
(STM's soft aggregation): one decoder pass fewer per frame, half of them for a single object.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from engine.model.config import ModelConfig
from engine.model.uncertainty import uncertainty
from engine.model.window_max import window_max

LOCAL_SIZE = 7


def upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def upsample2_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`upsample2(x)` in the memory layout of `like`: the repeat per object lays a channels-last feature out
    contiguous again, and torch's bf16 bilinear kernel is eight times slower on that (a no-op in fp32's layout)."""
    return upsample2(x.contiguous(memory_format=_layout(like)))


def upsample2_maps(x: torch.Tensor) -> torch.Tensor:
    """`upsample2` of a few channels (the two-class logits) in fp32 and contiguous: channels-last is four times
    slower for two channels, and bf16 twice (a no-op for the fp32 reference)."""
    return upsample2(x.float().contiguous())


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def per_object(x: torch.Tensor, obj_n: int) -> torch.Tensor:
    """Repeat each frame's tensor for its objects, batch-major: (B, ...) -> (B*obj_n, ...), in its own memory
    layout (a plain repeat lays a channels-last feature out contiguous, and the bf16 kernels after it slow down)."""
    if _layout(x) == torch.channels_last:
        return x.permute(0, 2, 3, 1).repeat_interleave(obj_n, dim=0).permute(0, 3, 1, 2)
    return x.repeat_interleave(obj_n, dim=0)


def local_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean over each pixel's LOCAL_SIZE x LOCAL_SIZE window, padding counted as zeros (as the reference's
    `AvgPool2d` does at the borders). Computed as a column then a row of depthwise convolutions with weights
    1/LOCAL_SIZE: on a CPU, torch's pooling ran this window at a tenth of a frame's time, the convolutions at
    a hundredth; the sums differ from the pooling's in the last bit only."""
    channels, half = x.shape[1], LOCAL_SIZE // 2
    column = x.new_full((channels, 1, LOCAL_SIZE, 1), 1 / LOCAL_SIZE)
    x = F.conv2d(x, column, padding=(half, 0), groups=channels)
    return F.conv2d(x, column.view(channels, 1, 1, LOCAL_SIZE), padding=(0, half), groups=channels)


def local_max(x: torch.Tensor) -> torch.Tensor:
    """The maximum over each pixel's LOCAL_SIZE x LOCAL_SIZE window, padding never winning (the reference's
    `MaxPool2d`, to the bit)."""
    return window_max(x, LOCAL_SIZE)


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv2(relu(conv1(relu(x))))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Refine(nn.Module):
    """Merges a skip feature of the query frame into the coarser per-object decoder state."""

    def __init__(self, in_dim: int, dim: int, skip_block: bool = True) -> None:
        super().__init__()
        self.convFS = nn.Conv2d(in_dim, dim, kernel_size=3, padding=1)
        self.ResFS = ResBlock(dim) if skip_block else None
        self.ResMM = ResBlock(dim)

    def skip(self, feature: torch.Tensor) -> torch.Tensor:
        skip = self.convFS(feature)
        return skip if self.ResFS is None else self.ResFS(skip)

    def merge(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return self.ResMM(skip + upsample2_like(coarse, skip))


class DecoderOutput(NamedTuple):
    probs: torch.Tensor  # (B, objects, H, W) probability per object, background first, at the padded input size
    uncertainty: torch.Tensor  # (B, 1, H/2, W/2) the URR uncertainty map


def with_background(probs: torch.Tensor) -> torch.Tensor:
    """Objects' probabilities (B, K, H, W) -> (B, 1 + K, H, W), the background's first: none of them."""
    return torch.cat([torch.prod(1 - probs, dim=1, keepdim=True), probs], dim=1)


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.implicit_background = config.implicit_background
        dim, local_dim = config.decoder_dim, config.local_dim
        c1, c2, c3, _ = config.feature_channels
        self.convFM = nn.Conv2d(2 * config.value_dim, dim, kernel_size=3, padding=1)
        self.ResMM = ResBlock(dim)
        self.RF3 = Refine(c3, dim, config.skip_blocks)
        self.RF2 = Refine(c2, dim, config.skip_blocks)
        self.pred2 = nn.Conv2d(dim, 2, kernel_size=3, padding=1)
        self.local_convFM = nn.Conv2d(2 * c1, local_dim, kernel_size=3, padding=1)
        self.local_ResMM = ResBlock(local_dim)
        self.local_pred2 = nn.Conv2d(local_dim, 2, kernel_size=3, padding=1)

    def forward(
        self, readout: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor, r1: torch.Tensor, obj_n: int
    ) -> DecoderOutput:
        """`readout` (B*obj_n, 2*value_dim, H/16, W/16) for the obj_n memorised classes; r3, r2, r1 are the
        query skips of the B frames."""
        p = self.ResMM(self.convFM(readout))
        p = self.RF3.merge(per_object(self.RF3.skip(r3), obj_n), p)  # 1/8
        p = self.RF2.merge(per_object(self.RF2.skip(r2), obj_n), p)  # 1/4
        p = upsample2_maps(self.pred2(F.relu(p)))  # 1/2, 2 channels
        return self._refine_uncertain(p, per_object(r1, obj_n), obj_n)

    def _refine_uncertain(self, p: torch.Tensor, r1: torch.Tensor, obj_n: int) -> DecoderOutput:
        """URR: re-decide, from local appearance, the pixels where the two strongest objects are close."""
        batch, h, w = p.shape[0] // obj_n, p.shape[-2], p.shape[-1]
        rough = self._with_background(F.softmax(p, dim=1)[:, 1].view(batch, obj_n, h, w))
        # A softmax over objects of probabilities, not logits: the published weights were trained with it.
        rough = F.softmax(rough, dim=1)
        u = uncertainty(rough)
        rough = rough[:, -obj_n:].reshape(batch * obj_n, 1, h, w)  # the decoded classes' own
        confidence = local_max(rough)
        rough = rough.to(r1.dtype)  # the layers' precision for the product with the features, not the logits' fp32
        r1_local = local_mean(r1 * rough) / (local_mean(rough) + 1e-8)
        q = self.local_ResMM(self.local_convFM(torch.cat([r1, r1_local], dim=1)))
        q = confidence * self.local_pred2(F.relu(q))
        p = upsample2_maps(p + per_object(u, obj_n) * q)
        probs = F.softmax(p, dim=1)[:, 1]
        return DecoderOutput(self._with_background(probs.view(batch, obj_n, *probs.shape[-2:])), u)

    def _with_background(self, probs: torch.Tensor) -> torch.Tensor:
        return with_background(probs) if self.implicit_background else probs
