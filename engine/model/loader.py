"""Building the network a command runs: the right checkpoint, on the right device, in inference mode."""

from __future__ import annotations

import os

from engine import checkpoint_choice
from engine.compute.device import select_device, set_deterministic
from engine.errors import CheckpointError
from engine.model import weights
from engine.model.afburr import AFBURR


def load_network(
    checkpoint: str | os.PathLike[str] | None, device: str = "auto", deterministic: bool = False
) -> AFBURR:
    """The network of the checkpoint that `resolve_checkpoint` picks (flag, environment, config), built in the
    configuration the checkpoint stores."""
    target = select_device(device)
    set_deterministic(deterministic)
    path = checkpoint_choice.resolve_checkpoint(checkpoint)
    try:
        model = weights.load_model(path, map_location=target)
    except CheckpointError as exc:
        if path != checkpoint_choice.DEFAULT_NETWORK:
            raise
        raise CheckpointError(
            f"the network shipped with the engine is damaged: {exc}\n{checkpoint_choice.REINSTALL}"
        ) from None
    return model.to(target).eval().requires_grad_(False)
