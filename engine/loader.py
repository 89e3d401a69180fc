"""Building the network a command runs: the right checkpoint, on the right device, in inference mode."""

from __future__ import annotations

import os

from engine.device import select_device, set_deterministic
from engine.model.afburr import AFBURR
from engine.weights import load_weights, resolve_checkpoint


def load_network(
    checkpoint: str | os.PathLike[str] | None, device: str = "auto", deterministic: bool = False
) -> AFBURR:
    """The AFB-URR network with the checkpoint that `resolve_checkpoint` picks (flag, environment, config)."""
    target = select_device(device)
    set_deterministic(deterministic)
    path = resolve_checkpoint(checkpoint)
    model = load_weights(AFBURR(), path, map_location=target)
    return model.to(target).eval().requires_grad_(False)
