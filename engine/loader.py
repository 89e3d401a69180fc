"""Building the network a command runs: the right checkpoint, on the right device, in inference mode."""

from __future__ import annotations

import os

from engine.device import select_device, set_deterministic
from engine.model.afburr import AFBURR
from engine.weights import load_model, resolve_checkpoint


def load_network(
    checkpoint: str | os.PathLike[str] | None, device: str = "auto", deterministic: bool = False
) -> AFBURR:
    """The network of the checkpoint that `resolve_checkpoint` picks (flag, environment, config), built in the
    configuration the checkpoint stores."""
    target = select_device(device)
    set_deterministic(deterministic)
    path = resolve_checkpoint(checkpoint)
    model = load_model(path, map_location=target)
    return model.to(target).eval().requires_grad_(False)
