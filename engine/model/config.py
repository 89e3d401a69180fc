"""Named network configurations: the reference's, whose checkpoints we load, and others we train ourselves.

Every configuration is the same architecture (two trunks with features at 1/2, 1/4, 1/8 and 1/16, a shared
key/value head on the 1/16 features, the refine decoder with URR) with another trunk or other sizes, so the
loop, the feature bank and the readers never need to know which one runs. The trunk is a ResNet of bottleneck
blocks cut after its third stage (the reference's ResNet-50 and smaller ones) or an EfficientNet-Lite cut at
1/16, which can start from ImageNet weights. A checkpoint we write stores its configuration, and every command
that loads one builds the network from it; the published checkpoints carry none and are the reference
configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.choices import BACKGROUNDS
from engine.model import efficientnet_lite

EXPANSION = 4  # a bottleneck's output channels per unit of width, as in ResNet-50


@dataclass(frozen=True)
class ModelConfig:
    """The sizes of one network; channel counts of the trunk's stages follow from `widths` x `EXPANSION`."""

    name: str
    stem: int = 64  # channels of the 1/2 resolution features (r1)
    widths: tuple[int, int, int] = (64, 128, 256)  # bottleneck widths of the 1/4, 1/8 and 1/16 stages
    blocks: tuple[int, int, int] = (3, 4, 6)  # bottlenecks per stage
    key_dim: int = 128
    value_dim: int = 512
    decoder_dim: int = 256
    local_dim: int = 32  # width of URR's local refinement branch
    encoder: str = "resnet"  # "resnet" (the sizes above) or an EfficientNet-Lite variant ("lite0", ...)
    # "explicit": the background is memorised and decoded as an object of its own, as the reference does;
    # "implicit": only the objects are, and the background is what none of them claims (`Decoder`).
    background: str = "explicit"
    # Whether the decoder's skip paths (the 1/8 and 1/4 features) end in a residual block, as the reference's do;
    # without them decoding costs a third less (docs/model.md).
    skip_blocks: bool = True

    def __post_init__(self) -> None:
        sizes = [self.stem, *self.widths, *self.blocks, self.key_dim, self.value_dim, self.decoder_dim, self.local_dim]
        if len(self.widths) != 3 or len(self.blocks) != 3 or any(not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"model configuration {self.name!r}: every size must be a positive integer, three stages")
        if self.encoder not in ENCODERS:
            raise ValueError(f"model configuration {self.name!r}: encoder must be one of {', '.join(ENCODERS)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"model configuration {self.name!r}: background must be one of {', '.join(BACKGROUNDS)}")
        if not isinstance(self.skip_blocks, bool):
            raise ValueError(f"model configuration {self.name!r}: skip_blocks must be true or false")

    @property
    def implicit_background(self) -> bool:
        return self.background == "implicit"

    def memory_classes(self, objects: int) -> int:
        """How many masks of a frame with `objects` objects the network memorises and decodes."""
        return objects if self.implicit_background else objects + 1

    @property
    def feature_channels(self) -> tuple[int, int, int, int]:
        """Channels of the trunk's features r1, r2, r3 and r4 (1/2 to 1/16)."""
        if self.encoder == "resnet":
            return (self.stem, *self.stage_channels)  # type: ignore[return-value]
        return efficientnet_lite.feature_channels(self.encoder)

    @property
    def reference_layout(self) -> bool:
        """Whether fp32 keeps the reference's contiguous memory layout: ResNet trunks do, so that the published
        network rounds as the reference does; EfficientNet-Lite trunks have no reference to match and run their
        depthwise convolutions in channels-last (`engine.compute.precision.memory_format`)."""
        return self.encoder == "resnet"

    @property
    def stage_channels(self) -> tuple[int, int, int]:
        """Output channels of r2, r3 and r4."""
        return tuple(width * EXPANSION for width in self.widths)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """Plain values only, so a checkpoint holding it still loads with `weights_only=True`."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        """Rebuild a stored configuration; unknown or missing keys are errors, never silently defaulted."""
        names = {field.name for field in fields(cls)}
        values = {**ADDED_LATER, **values}
        unknown, missing = set(values) - names, names - set(values)
        if unknown or missing:
            raise ValueError(f"stored model configuration: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


ENCODERS = ("resnet", *efficientnet_lite.VARIANTS)
# Keys that checkpoints written before they existed lack, with the value those checkpoints mean.
ADDED_LATER: dict[str, Any] = {"encoder": "resnet", "background": "explicit", "skip_blocks": True}
REFERENCE = ModelConfig("afb-urr-r50")
CONFIGS: dict[str, ModelConfig] = {
    config.name: config
    for config in (
        REFERENCE,
        # A reduced ResNet: a sixth of the reference's parameters, for CPU training and fast previews.
        ModelConfig("small", stem=32, widths=(32, 64, 128), blocks=(2, 2, 2), key_dim=64, value_dim=256,
                    decoder_dim=128, local_dim=16),
        # The smallest useful network: trains in minutes on a CPU; for tests and smoke runs.
        ModelConfig("tiny", stem=16, widths=(16, 32, 64), blocks=(1, 1, 1), key_dim=32, value_dim=64,
                    decoder_dim=64, local_dim=16),
        # EfficientNet-Lite0 trunks from ImageNet weights, a narrow decoder without skip blocks, the objects alone
        # decoded: the network for an artist's CPU (docs/model.md).
        ModelConfig("lite0", key_dim=64, value_dim=256, decoder_dim=64, local_dim=16, encoder="lite0",
                    background="implicit", skip_blocks=False),
    )
}


def named_config(name: str) -> ModelConfig:
    """The configuration called `name`; the error lists the ones there are."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model configuration {name!r}; choose one of {', '.join(CONFIGS)}") from None
