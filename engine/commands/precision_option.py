"""The `--precision` and `--strict-precision` flags of every command that runs the network, and the line it
logs once the device is known (see `engine.precision` for how the choice is made)."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from engine.choices import REQUESTS

if TYPE_CHECKING:
    import torch

    from engine.precision import PrecisionChoice

DEFAULT = "auto"
log = logging.getLogger("engine.precision")


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, default: str = DEFAULT) -> None:
    parser.add_argument(
        "--precision",
        choices=REQUESTS,
        default=default,
        help="auto: bf16 where the device has bf16 matrix units, else fp32; fp16: CUDA only (default %(default)s)",
    )
    parser.add_argument(
        "--strict-precision",
        action="store_true",
        help="refuse to run, rather than compute in fp32, when bf16 is asked for on a device without bf16 units",
    )


def choose(requested: str, strict: bool, device: torch.device) -> PrecisionChoice:
    """Resolve the precision for `device` and log what was chosen and why: information, or a warning where the
    device has no fast path for what was asked (which `--quiet` still shows)."""
    from engine.precision import resolve_precision

    choice = resolve_precision(requested, device, strict)
    if choice.fallback:
        log.warning(choice.reason)
    else:
        log.info("precision %s (%s)", choice.precision, choice.reason)
    return choice
