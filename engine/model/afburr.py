"""The AFB-URR network as a set of stages; the per-shot loop that drives them lives outside the module.

Stages, in the order a frame meets them:
- `encode_query(frame)`: query trunk + key/value head -> `QueryFeatures`;
- `read(query, memory, options)`: attention over the feature bank -> decoder input and bank usage;
- `decode(readout, query)`: decoder + URR -> per-object log-odds and the uncertainty map;
- `encode_memory(frame, masks)`: memory trunk + key/value head -> keys and values to store in the bank.

Frames and masks reach the stages already zero-padded to a multiple of 16 (`engine.model.padding`), once
per frame, where the reference pads inside each call. Background is object 0 of every mask and output; a
network with an implicit background (`ModelConfig.background`) leaves it out of what it memorises and reads,
so its bank holds `config.memory_classes(objects)` classes.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import nn

from engine.compute.precision import full_precision
from engine.model.calibration import ConfidenceCalibration
from engine.model.config import REFERENCE, ModelConfig
from engine.model.decoder import Decoder
from engine.model.encoders import make_encoders
from engine.model.keyvalue import KeyValue
from engine.model.padding import STRIDE
from engine.model.readout import MemoryView, ReadOptions, ReadResult, read_memory
from engine.model.spatial_prior import spatial_log_prior

PROB_EPS = 1e-7


class QueryFeatures(NamedTuple):
    key: torch.Tensor  # (B, 128, h*w); channel counts are those of the reference configuration
    value: torch.Tensor  # (B, 512, h*w)
    r3: torch.Tensor  # (B, 512, H/8, W/8)
    r2: torch.Tensor  # (B, 256, H/4, W/4)
    r1: torch.Tensor  # (B, 64, H/2, W/2)
    grid: tuple[int, int]  # (h, w) = (H/16, W/16)


class Readout(NamedTuple):
    features: torch.Tensor  # (B*O, 2*value_dim, h, w): memory read-out then query value, batch-major
    usage: torch.Tensor  # (O, N) query pixels of frame 0 that attended to each bank entry


class Segmentation(NamedTuple):
    logits: torch.Tensor  # (B, O, H, W) log-odds of the clamped per-object probabilities, padded size
    uncertainty: torch.Tensor  # (B, 1, H/2, W/2) URR uncertainty, padded size


# The internal size the reference trains and evaluates at, and so the size of networks that do not say theirs.
REFERENCE_MAX_SIZE = 480


class AFBURR(nn.Module):
    """AFB-URR (Liang et al., NeurIPS 2020); with the reference configuration `state_dict()` matches the
    published checkpoints key for key, and smaller configurations keep the same keys at other shapes."""

    def __init__(self, config: ModelConfig = REFERENCE) -> None:
        super().__init__()
        self.config = config
        self.encoder_m, self.encoder_q = make_encoders(config)
        self.keyval_r4 = KeyValue(config.feature_channels[3], config.key_dim, config.value_dim)
        self.decoder = Decoder(config)
        # The internal size (shorter side) the network is run at unless asked otherwise: the scale it was
        # trained at, which its checkpoint stores (`engine.model.weights.load_model` sets it).
        self.default_max_size = REFERENCE_MAX_SIZE
        # Every how many frames a pass memorises a frame unless asked otherwise (1: every frame, the reference's
        # loop); the checkpoint stores it too.
        self.default_memory_every = 1
        # Maps its raw confidence to an estimate of J (None: reported raw); the checkpoint stores it too.
        self.confidence_calibration: ConfidenceCalibration | None = None
        self.folded = False  # true in the copy `for_inference` makes
        self.eval()

    def train(self, mode: bool = True) -> AFBURR:
        """Batch norms stay in eval mode even in training, as in the reference (their affine parts still learn)."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def for_inference(self) -> AFBURR:
        """The network as frames are best run through it: for EfficientNet-Lite trunks a copy with every batch
        norm folded into its convolution (the network's own modules stay as they are, for training and for
        saving); the ResNet reference configuration itself, unchanged, so that its parity stays exact. A folded
        copy is its own inference form."""
        if self.config.encoder == "resnet" or self.folded:
            return self
        folded = copy.deepcopy(self).eval()
        folded.encoder_m.fold_batch_norms()
        folded.encoder_q.fold_batch_norms()
        folded.folded = True
        return folded

    def encode_memory(self, frame: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame (1, 3, H, W) in [0, 1] and soft masks (O, H, W), background first -> keys (C, 128, h*w),
        values (C, 512, h*w) of the C memorised classes.

        Every object, background included where it is memorised, sees the whole frame: its mask and the
        "other" mask (1 - mask) tell the encoder which part is its own.
        """
        _check_padded(frame)
        masks = self._memorised(masks).unsqueeze(1).to(frame.dtype)
        others = (1 - masks).clamp(0, 1)
        return self.keyval_r4(self.encoder_m(frame.expand(masks.shape[0], -1, -1, -1), masks, others))

    def encode_query(self, frame: torch.Tensor) -> QueryFeatures:
        """Frames (B, 3, H, W) in [0, 1] -> the query key/value and the decoder's skip features."""
        _check_padded(frame)
        r4, r3, r2, r1 = self.encoder_q(frame)
        key, value = self.keyval_r4(r4)
        return QueryFeatures(key, value, r3, r2, r1, (r4.shape[-2], r4.shape[-1]))

    def read(
        self,
        query: QueryFeatures,
        memory: MemoryView,
        options: ReadOptions | None = None,
        previous_probs: torch.Tensor | None = None,
    ) -> Readout:
        """Read every memorised class's memory for the query; `previous_probs` (O, H, W), background first,
        feeds the `skn` reader.

        The read runs in fp32 even under bf16 autocast: a bf16 affinity keeps three significant digits for a
        softmax over up to 300,000 entries, and torch's CPU bf16 matmul of these shapes was slower than fp32.
        """
        options = options or ReadOptions()
        log_prior = None
        if options.reader == "skn":
            if previous_probs is None:
                raise ValueError("the skn reader needs previous_probs, the last frame's soft masks")
            log_prior = spatial_log_prior(self._memorised(previous_probs), query.grid, options.spread_scale)
        with full_precision(query.key.device):  # affinity and softmax over the bank: fp32 whatever the layers ran in
            memory = MemoryView(memory.keys.float(), memory.values.float(), memory.valid)
            result: ReadResult = read_memory(memory, query.key.float(), query.grid, options, log_prior)
        batch, obj_n, value_dim = result.readout.shape[:3]
        query_value = query.value.unsqueeze(1).expand(-1, obj_n, -1, -1).to(result.readout.dtype)
        features = torch.cat([result.readout, query_value], dim=2)
        return Readout(features.view(batch * obj_n, 2 * value_dim, *query.grid), result.usage)

    def decode(self, readout: torch.Tensor, query: QueryFeatures) -> Segmentation:
        """Decoder input (B*C, 2*value_dim, h, w) of the C memorised classes -> per-object log-odds at the padded
        frame size, background first."""
        classes = readout.shape[0] // query.r3.shape[0]
        probs, uncertainty = self.decoder(readout, query.r3, query.r2, query.r1, classes)
        # In fp32 whatever the decoder ran in: in bf16, 1 - 1e-7 rounds to 1 and the log-odds become infinite.
        probs = probs.float().clamp(PROB_EPS, 1 - PROB_EPS)
        return Segmentation(torch.log(probs / (1 - probs)), uncertainty)

    def _memorised(self, masks: torch.Tensor) -> torch.Tensor:
        """The masks (O, ...) of the classes this network memorises: all, or all but the background."""
        return masks[1:] if self.config.implicit_background else masks


def _check_padded(frame: torch.Tensor) -> None:
    if frame.shape[-2] % STRIDE or frame.shape[-1] % STRIDE:
        raise ValueError(
            f"frame size {tuple(frame.shape[-2:])} is not a multiple of {STRIDE}: pad it with engine.model.padding"
        )
